"""The Thomson problem and its generalizations: N points on S^(d-1) of minimal pair energy.

Minimizes E(x) = Σ_{i<j} f(<x_i, x_j>) over unit vectors x_1..x_N in R^d, for the MHE pair
energies of ``hypercli.mhe.kernels`` (s = 1: the Thomson problem, Coulomb energy
Σ 1/||x_i - x_j||; hypersphere.md §6). Totals follow published tables: Σ over pairs,
not the mean, and for s = 0 the log energy Σ log(1/||x_i - x_j||) (half the MHE code's
-log r²). With ``half_space`` the 2N vectors [X, -X] are scored (antipodal configurations).

Two searches, both driving batches of starts to local minima with a batched Riemannian
L-BFGS at float64 precision (``lbfgs``):

- ``genetic``: random starts, then cut-and-splice children of the best minima (Morris,
  Deaven & Ho 1996) and local moves (``genetic``); any d and s, half-space too.
- ``portfolio`` (d = 3): orbit-constrained searches over many point groups, lifted and
  polished, beside a free search with structured starts and scar-targeted moves
  (``portfolio``); it reaches the large-N records (N = 470 in seconds) that the genetic
  search needs tens of minutes for.

``auto`` takes the portfolio on S² from N = 41 (beyond the table the genetic search is
tested on) and the genetic search otherwise. The result says what was found: on S² the
point group (``symmetry``), the Voronoi defect census (``census``) and the gap to the
published minimum (``published``).

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
from hypercli.mhe.thomson.census import defect_census
from hypercli.mhe.thomson.genetic import _search
from hypercli.mhe.thomson.pair_energy import energy_fn
from hypercli.mhe.thomson.portfolio import Status
from hypercli.mhe.thomson.published import published_energy
from hypercli.mhe.thomson.symmetry import detect_point_group

STRATEGIES = ("auto", "portfolio", "genetic")
PORTFOLIO_MIN_N = 41  # auto: the genetic search below (every published N <= 40 is tested)
PATIENCE = 10.0  # portfolio without a limit: stop after 10 s + the time to the best


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
    stopped: str  # "restarts" (all run), "target", "time limit" or "no improvement"
    energies: list[float] = field(default_factory=list)  # each descent's final energy, sorted
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (N, d)
    strategy: str = "genetic"
    minima: int = 0  # distinct minima visited (portfolio: energy + fingerprint; genetic:
    #                  distinct final energies, 1e-9 relative)
    found_by: str = ""  # the search that found the best (portfolio), e.g. "S6: 78 orbits ..."
    seconds_to_best: float = 0.0
    published: float | None = None  # the published minimum for (N, d=3, s=1), when known
    gap: float | None = None  # energy / published - 1
    point_group: dict | None = None  # d = 3: ``symmetry.PointGroupReport.to_dict()``
    census: dict | None = None  # d = 3, N >= 4: ``census.DefectCensus.to_dict()``
    searches: list[dict] = field(default_factory=list)  # portfolio: time and best per search

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
    restarts: int | None = None,
    seed: int = 0,
    half_space: bool = False,
    population: int | None = None,
    device: str = "auto",
    threads: int | None = 1,
    gtol: float = 1e-6,
    max_iter: int = 5000,
    mutation: float = 0.0,
    target: float | None = None,
    time_limit: float | None = None,
    callback: Callable[[int, float], None] | None = None,
    strategy: str = "auto",
    progress: Callable[[Status], None] | None = None,
    describe: bool = True,
    patience: float = PATIENCE,
) -> ThomsonResult:
    """N unit vectors in R^dim of minimal total pair energy.

    Args:
        n: number of points (>= 2).
        dim: ambient dimension (>= 2; points on S^(dim-1)).
        s: pair energy (``hypercli.mhe.kernels``): "1" Coulomb (Thomson), "0" log, any
            positive real (Riesz), or the angular forms "a0", "a1", "a2".
        restarts: local descents in all (genetic: 20 when not given; portfolio: no limit
            but ``time_limit``, ``target`` or, without those, 10 s without improvement
            after the best). Genetic: the first ``population`` start from uniform random
            points, all at once as one (population, n, dim) tensor; any further ones start
            from children of the best minima so far, ``population`` per batch: cut-and-splice
            crossovers (a genetic search, Morris, Deaven & Ho, Phys. Rev. B 53, 1996) and,
            with ``mutation``, local moves (basin hopping, Wales & Doye, JPC A 101, 1997).
        seed: seed of the starts and of the splices.
        half_space: score [X, -X] (2N points, antipodally symmetric).
        population: random starts, and children per generation afterwards (genetic,
            20 when not given); the starts per step of one search (portfolio, 8).
        device: "auto" (CUDA when present), "cpu" or "cuda" (genetic; the portfolio's
            small constrained problems run on the CPU, and the result says so).
        threads: CPU threads while solving (None: torch's setting). One by default: each
            step is small, and on a shared machine threads lose more to synchronization
            than they gain.
        gtol: a descent stops when every tangent force is below gtol * (|E|/N + 1); the
            best configuration is then polished at gtol / 1000 (or to the float64 floor).
            The portfolio screens at 10 gtol and polishes its candidates at gtol / 1000.
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
        strategy: "auto", "portfolio" (d = 3, not half-space) or "genetic" (module doc).
        progress: portfolio only: called after every step with a ``portfolio.Status``
            (best, descents, distinct minima, seconds, the search just run).
        describe: on S², detect the point group and count the Voronoi defects of the best.
        patience: portfolio without ``restarts``, ``time_limit`` and ``target``: stop once the
            best has not improved for ``patience`` seconds + the time it took to find it.

    Returns:
        ``ThomsonResult``; ``energy`` is Σ_{i<j} as in published tables (d=3, s=1: N=12 gives
        the icosahedron, 49.165253058).
    """
    if n < 2:
        raise HyperError(f"--n {n}: need at least 2 points")
    if dim < 2:
        raise HyperError(f"--dim {dim}: points live on S^(dim-1), so dim must be >= 2")
    if restarts is not None and restarts < 1:
        raise HyperError(f"--restarts {restarts}: need at least 1 start")
    if population is not None and population < 1:
        raise HyperError(f"--population {population}: need at least 1")
    if not 0.0 <= mutation <= 1.0:
        raise HyperError(f"--mutation {mutation}: a fraction of the children, 0 to 1")
    if time_limit is not None and not 0 < time_limit < math.inf:  # NaN fails too
        raise HyperError(f"--time-limit {time_limit}: give a positive number of seconds")
    if target is not None and not math.isfinite(target):
        raise HyperError(f"--target {target}: give a finite energy")
    if strategy not in STRATEGIES:
        raise HyperError(f"--strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    kernel = parse_kernel(s)
    if strategy == "portfolio" and (dim != 3 or half_space):
        raise HyperError("--strategy portfolio searches point groups of S² (--dim 3) without "
                         "--half-space; use --strategy genetic")
    if strategy == "auto":
        strategy = ("portfolio" if dim == 3 and not half_space and n >= PORTFOLIO_MIN_N
                    else "genetic")
    from hypercli.engine.distributed import resolve_device

    dev = resolve_device(device)
    scale = 0.5 if (kernel.power == 0 and not kernel.angular) else 1.0  # Σ log 1/r
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    saved_threads = torch.get_num_threads()
    if threads is not None and (dev.type == "cpu" or strategy == "portfolio"):
        torch.set_num_threads(max(1, threads))
    try:
        if strategy == "portfolio":
            result = _run_portfolio(n, kernel, scale, gen, restarts, population, gtol, max_iter,
                                    target, time_limit, callback, progress, patience)
        else:
            result = _run_genetic(n, dim, kernel, scale, half_space, gen, dev,
                                  20 if restarts is None else restarts,
                                  20 if population is None else population, gtol, max_iter,
                                  mutation, target, time_limit, callback)
    finally:
        torch.set_num_threads(saved_threads)
    result.seconds = time.perf_counter() - start
    result.published = published_energy(n, dim, kernel.name, half_space)
    if result.published is not None:
        result.gap = result.energy / result.published - 1.0
    if describe and dim == 3:
        pts = np.concatenate([result.points, -result.points]) if half_space else result.points
        result.point_group = detect_point_group(pts).to_dict()
        if len(pts) >= 4:
            result.census = defect_census(pts).to_dict()
    return result


def _run_genetic(n, dim, kernel, scale, half_space, gen, dev, restarts, population, gtol,  # noqa: ANN001
                 max_iter, mutation, target, time_limit, callback) -> ThomsonResult:
    fg = energy_fn(kernel, half_space, scale)
    first = min(population, restarts)
    pop, pop_f, f_all, stopped = _search(n, dim, restarts, first, fg, gen, dev, gtol,
                                         max_iter, mutation, target, time_limit, callback)
    best_e = float(pop_f[0])
    tol = 1e-9 * max(abs(best_e), 1.0)
    hits = int(((f_all - best_e).abs() <= tol).sum())
    pts = pop[0].double().cpu()
    distinct = sorted(f_all.tolist())
    minima = sum(1 for i, e in enumerate(distinct)
                 if i == 0 or e - distinct[i - 1] > 1e-9 * max(abs(e), 1.0))
    return ThomsonResult(
        n=n, dim=dim, s=kernel.name, half_space=half_space, energy=best_e,
        min_angle=min_angle(pts, half_space), hits=hits, restarts=len(f_all), population=first,
        seconds=0.0, device=str(dev), stopped=stopped, energies=distinct, points=pts.numpy(),
        strategy="genetic", minima=minima)


def _run_portfolio(n, kernel, scale, gen, restarts, population, gtol, max_iter, target,  # noqa: ANN001
                   time_limit, callback, progress, patience) -> ThomsonResult:
    from hypercli.mhe.thomson.portfolio import portfolio_search

    def show(st: Status) -> None:
        if callback is not None:
            callback(st.descents, st.best)
        if progress is not None:
            progress(st)

    if restarts is not None or time_limit is not None or target is not None:
        patience = None
    pop = 8 if population is None else population
    out = portfolio_search(n, kernel, scale, gen, population=pop, gtol=10 * gtol,
                           polish_gtol=gtol * 1e-3, max_descents=restarts, target=target,
                           time_limit=time_limit, callback=show, max_iter=max_iter,
                           patience=patience)
    pts = out.points.double().cpu()
    return ThomsonResult(
        n=n, dim=3, s=kernel.name, half_space=False, energy=out.energy,
        min_angle=min_angle(pts), hits=out.hits, restarts=out.descents, population=pop,
        seconds=0.0, device="cpu", stopped=out.stopped, energies=sorted(out.energies),
        points=pts.numpy(), strategy="portfolio", minima=out.minima, found_by=out.found_by,
        seconds_to_best=out.seconds_to_best, searches=out.searches)


def min_angle(points: torch.Tensor, half_space: bool = False) -> float:
    """Smallest angle (degrees) between two of the points (or of [X, -X])."""
    x = torch.cat([points, -points]) if half_space else points
    g = x @ x.T
    g.fill_diagonal_(-1.0)
    return math.degrees(math.acos(min(1.0, float(g.max()))))
