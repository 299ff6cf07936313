"""The Thomson problem and its generalizations: N points on S^(d-1) of minimal pair energy.

Minimizes E(x) = Σ_{i<j} f(<x_i, x_j>) over unit vectors x_1..x_N in R^d, for the MHE pair
energies of ``hypercli.mhe.kernels`` (s = 1: the Thomson problem, Coulomb energy
Σ 1/||x_i - x_j||; hypersphere.md §6). Totals follow published tables: Σ over pairs,
not the mean, and for s = 0 the log energy Σ log(1/||x_i - x_j||) (half the MHE code's
-log r²). With ``half_space`` the 2N vectors [X, -X] are scored (antipodal configurations).

All restarts run as one batched tensor problem (B, N, d): a Riemannian L-BFGS (tangent
gradients, retraction by normalization, Armijo backtracking) drives every start to a
local minimum at float64 precision. Restarts beyond the first batch of random starts are
a genetic search (Morris, Deaven & Ho 1996): cut-and-splice children of the best minima
found so far, relaxed in batches, which finds the large-N minima that random starts miss.

    >>> r = solve(12, 3)          # the icosahedron
    >>> round(r.energy, 9), r.hits
    (49.165253058, 20)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from hypercli.errors import HyperError
from hypercli.mhe.kernels import parse_kernel
from hypercli.mhe.thomson.genetic import _search
from hypercli.mhe.thomson.pair_energy import energy_fn


@dataclass
class ThomsonResult:
    """The best configuration found and how it was found."""

    n: int
    dim: int
    s: str
    half_space: bool
    energy: float  # Σ_{i<j} f over the N (or 2N) points: the published convention
    min_angle: float  # smallest angle between two points, degrees
    hits: int  # descents whose final energy equals the best (1e-9 relative)
    restarts: int  # descents run: fewer than asked when target or time_limit stopped them
    population: int
    seconds: float
    device: str
    stopped: str  # "restarts" (all run), "target" (reached) or "time limit"
    energies: list[float] = field(default_factory=list)  # each descent's final energy, sorted
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (N, d)

    def to_dict(self, with_points: bool = False) -> dict:
        out = asdict(self)
        out.pop("points")
        if with_points:
            out["points"] = self.points.tolist()
        return out


def solve(
    n: int,
    dim: int = 3,
    s: str | int | float = "1",
    restarts: int = 20,
    seed: int = 0,
    half_space: bool = False,
    population: int = 20,
    device: str = "auto",
    threads: int | None = 1,
    gtol: float = 1e-6,
    max_iter: int = 5000,
    mutation: float = 0.0,
    target: float | None = None,
    time_limit: float | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> ThomsonResult:
    """N unit vectors in R^dim of minimal total pair energy, from ``restarts`` random starts.

    Args:
        n: number of points (>= 2).
        dim: ambient dimension (>= 2; points on S^(dim-1)).
        s: pair energy (``hypercli.mhe.kernels``): "1" Coulomb (Thomson), "0" log, any
            positive real (Riesz), or the angular forms "a0", "a1", "a2".
        restarts: local descents in all. The first ``population`` start from uniform random
            points, all at once as one (population, n, dim) tensor; any further ones start
            from children of the best minima so far, ``population`` per batch: cut-and-splice
            crossovers (a genetic search, Morris, Deaven & Ho, Phys. Rev. B 53, 1996) and,
            with ``mutation``, local moves (basin hopping, Wales & Doye, JPC A 101, 1997).
        seed: seed of the starts and of the splices.
        half_space: score [X, -X] (2N points, antipodally symmetric).
        population: random starts, and children per generation afterwards.
        device: "auto" (CUDA when present), "cpu" or "cuda".
        threads: CPU threads while solving (None: torch's setting). One by default: each
            step is small, and on a shared machine threads lose more to synchronization
            than they gain.
        gtol: a descent stops when every tangent force is below gtol * (|E|/N + 1); the
            best configuration is then polished at gtol / 1000 (or to the float64 floor).
        max_iter: L-BFGS iterations per descent.
        mutation: fraction of the children that are local moves on one parent (a cap
            turned about its centre, or shaken) instead of splices of two. Splices alone
            suit N up to a few hundred; beyond, local moves refine the best minimum where
            splices mostly add defects (benchmarks/thomson.py, N = 470).
        target: stop as soon as the best energy is at or below ``target`` (1e-9 relative),
            e.g. a published minimum.
        time_limit: stop starting new generations after this many seconds.
        callback: called after every batch of descents with (descents so far, best energy
            so far, in the published convention), e.g. to show progress.

    Returns:
        ``ThomsonResult``; ``energy`` is Σ_{i<j} as in published tables (d=3, s=1: N=12 gives
        the icosahedron, 49.165253058).
    """
    if n < 2:
        raise HyperError(f"--n {n}: need at least 2 points")
    if dim < 2:
        raise HyperError(f"--dim {dim}: points live on S^(dim-1), so dim must be >= 2")
    if restarts < 1:
        raise HyperError(f"--restarts {restarts}: need at least 1 start")
    if population < 1:
        raise HyperError(f"--population {population}: need at least 1")
    if not 0.0 <= mutation <= 1.0:
        raise HyperError(f"--mutation {mutation}: a fraction of the children, 0 to 1")
    if time_limit is not None and time_limit <= 0:
        raise HyperError(f"--time-limit {time_limit}: give a positive number of seconds")
    kernel = parse_kernel(s)
    from hypercli.engine.distributed import resolve_device

    dev = resolve_device(device)
    scale = 0.5 if (kernel.power == 0 and not kernel.angular) else 1.0  # Σ log 1/r
    fg = energy_fn(kernel, half_space, scale)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    first = min(population, restarts)
    saved_threads = torch.get_num_threads()
    if threads is not None and dev.type == "cpu":
        torch.set_num_threads(max(1, threads))
    try:
        pop, pop_f, f_all, stopped = _search(n, dim, restarts, first, fg, gen, dev, gtol,
                                             max_iter, mutation, target, time_limit, callback)
    finally:
        torch.set_num_threads(saved_threads)
    seconds = time.perf_counter() - start
    best_e = float(pop_f[0])
    tol = 1e-9 * max(abs(best_e), 1.0)
    hits = int(((f_all - best_e).abs() <= tol).sum())
    pts = pop[0].double().cpu()
    return ThomsonResult(
        n=n,
        dim=dim,
        s=kernel.name,
        half_space=half_space,
        energy=best_e,
        min_angle=min_angle(pts, half_space),
        hits=hits,
        restarts=len(f_all),
        population=first,
        seconds=seconds,
        device=str(dev),
        stopped=stopped,
        energies=sorted(f_all.tolist()),
        points=pts.numpy(),
    )


def min_angle(points: torch.Tensor, half_space: bool = False) -> float:
    """Smallest angle (degrees) between two of the points (or of [X, -X])."""
    x = torch.cat([points, -points]) if half_space else points
    g = x @ x.T
    g.fill_diagonal_(-1.0)
    return math.degrees(math.acos(min(1.0, float(g.max()))))
