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
from hypercli.mhe.kernels import Kernel, parse_kernel

EnergyGrad = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


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


def _energy_fn(kernel: Kernel, half_space: bool, scale: float) -> EnergyGrad:
    """u (B, N, d) unit -> (total energy (B,), tangent gradient (B, N, d))."""
    fast = not kernel.angular and kernel.power == 1 and not half_space

    def fg(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, _ = u.shape
        if fast:  # Coulomb: r² = 2 - 2G in one baddbmm, then in-place rsqrt and cube
            r2 = torch.baddbmm(u.new_full((1, 1, 1), 2.0).expand(b, n, n), u, u.transpose(1, 2),
                               alpha=-2.0)
            r2.diagonal(dim1=1, dim2=2).fill_(1.0)
            inv = r2.rsqrt_()  # (B, N, N) 1/r, diagonal 1
            energy = (inv.sum((1, 2)) - n) * 0.5
            deriv = inv.pow_(3)  # dE/dG = r⁻³; the diagonal only adds a radial term
        else:
            g = torch.bmm(u, u.transpose(1, 2))  # (B, N, N) cosines
            g.diagonal(dim1=1, dim2=2).fill_(0.0)
            value, deriv = kernel.value_and_deriv(g)
            if half_space:  # [X, -X]: pairs give 2 f(G) + 2 f(-G), plus N f(-1)
                value_n, deriv_n = kernel.value_and_deriv(-g)
                value = value + value_n
                deriv = 2.0 * (deriv - deriv_n)
            value.diagonal(dim1=1, dim2=2).fill_(0.0)
            energy = value.sum((1, 2)) * (1.0 if half_space else 0.5)
            if half_space:
                minus_one = kernel.value(u.new_full((1,), -1.0))
                energy = energy + n * minus_one
        grad = torch.bmm(deriv, u)  # Σ_j f'(G_ij) x_j
        grad = grad - (grad * u).sum(-1, keepdim=True) * u  # tangent part
        return energy * scale, grad * scale

    return fg


def minimize(
    u: torch.Tensor,
    fg: EnergyGrad,
    max_iter: int = 5000,
    gtol: float = 1e-7,
    memory: int = 10,
    max_step: float = 0.3,
    max_backtracks: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Batched Riemannian L-BFGS on (S^(d-1))^N; returns (points, energies, iterations).

    Each walker stops when its largest tangent force is below ``gtol`` times the mean
    force scale, or when a line search can no longer lower its energy (float64 floor).
    Converged walkers leave the batch, so the cost follows the slowest ones.
    """
    b, n, d = u.shape
    out_u, out_f = u.clone(), u.new_zeros(b)
    idx = torch.arange(b, device=u.device)
    f, g = fg(u)
    dim = n * d
    s_hist = u.new_zeros(b, memory, dim)
    y_hist = u.new_zeros(b, memory, dim)
    rho = u.new_zeros(b, memory)
    gamma = max_step / g.norm(dim=-1).amax(1).clamp_min(1e-300)  # first step: max_step rad
    count = 0
    it = 0
    while it < max_iter:
        it += 1
        force = g.norm(dim=-1).amax(1)  # (B,) largest tangent force
        scale = f.abs() / n + 1.0
        done = force <= gtol * scale
        # --- two-loop recursion, batched over walkers
        q = g.reshape(len(idx), dim).clone()
        alphas = []
        slots = [(count - 1 - i) % memory for i in range(min(count, memory))]
        for j in slots:
            a = rho[:, j] * (s_hist[:, j] * q).sum(1)
            q -= a[:, None] * y_hist[:, j]
            alphas.append(a)
        r = q * gamma[:, None]
        for j, a in zip(reversed(slots), reversed(alphas), strict=True):
            beta = rho[:, j] * (y_hist[:, j] * r).sum(1)
            r += s_hist[:, j] * (a - beta)[:, None]
        p = -r.view_as(u)
        p = p - (p * u).sum(-1, keepdim=True) * u
        slope = (p * g).sum((1, 2))  # directional derivative, < 0 for descent
        bad = slope >= 0
        if bad.any():  # fall back to steepest descent
            p[bad] = -g[bad] * gamma[bad, None, None]
            slope = (p * g).sum((1, 2))
        step = torch.clamp(max_step / p.norm(dim=-1).amax(1).clamp_min(1e-300), max=1.0)
        # --- Armijo backtracking; only the walkers still searching are re-evaluated
        trial = u + step[:, None, None] * p
        trial = trial / trial.norm(dim=-1, keepdim=True)
        f_new, g_new = fg(trial)
        u_new = trial
        accepted = done | (f_new <= f + 1e-4 * step * slope)
        for _ in range(max_backtracks if count else 60):  # no curvature yet: search far
            if bool(accepted.all()):
                break
            todo = (~accepted).nonzero().squeeze(1)
            step[todo] *= 0.5
            tr = u[todo] + step[todo, None, None] * p[todo]
            tr = tr / tr.norm(dim=-1, keepdim=True)
            ft, gt = fg(tr)
            ok = ft <= f[todo] + 1e-4 * step[todo] * slope[todo]
            u_new[todo], f_new[todo], g_new[todo] = tr, ft, gt
            accepted[todo] = ok
        u_new = torch.where(accepted[:, None, None], u_new, u)
        f_new = torch.where(accepted, f_new, f)
        g_new = torch.where(accepted[:, None, None], g_new, g)
        stalled = ~accepted
        finished = done | stalled
        # --- history update
        sv = (u_new - u).reshape(len(idx), dim)
        yv = (g_new - g).reshape(len(idx), dim)
        sy = (sv * yv).sum(1)
        valid = (sy > 1e-12 * sv.norm(dim=1) * yv.norm(dim=1)) & ~finished
        slot = count % memory
        s_hist[:, slot] = torch.where(valid[:, None], sv, 0.0)
        y_hist[:, slot] = torch.where(valid[:, None], yv, 0.0)
        rho[:, slot] = torch.where(valid, 1.0 / torch.where(valid, sy, 1.0), 0.0)
        gamma = torch.where(valid, sy / (yv * yv).sum(1).clamp_min(1e-300), gamma)
        count += 1
        u, f, g = u_new, f_new, g_new
        if bool(finished.any()):  # retire finished walkers
            out_u[idx[finished]] = u[finished]
            out_f[idx[finished]] = f[finished]
            keep = ~finished
            idx, u, f, g = idx[keep], u[keep], f[keep], g[keep]
            s_hist, y_hist, rho, gamma = s_hist[keep], y_hist[keep], rho[keep], gamma[keep]
            if len(idx) == 0:
                break
    if len(idx):
        out_u[idx], out_f[idx] = u, f
    return out_u, out_f, it


def _random_points(b: int, n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """(b, n, d) uniform on the sphere (normalized Gaussians), float64 on the CPU."""
    x = torch.randn(b, n, d, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def _random_rotation(d: int, gen: torch.Generator) -> torch.Tensor:
    """A Haar-random orthogonal (d, d) matrix (QR of a Gaussian, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))[None, :]


def _splice(a: torch.Tensor, b: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Cut-and-splice child of two configurations (N, d) (Morris, Deaven & Ho 1996).

    Both parents are rotated at random; the child takes the points of ``a`` above a random
    plane and fills the rest with the lowest points of ``b``.
    """
    n, d = a.shape
    a = a @ _random_rotation(d, gen).to(a)
    b = b @ _random_rotation(d, gen).to(b)
    height = float(torch.rand((), generator=gen)) - 0.5  # plane z = height
    top = a[a[:, -1] > height]
    k = min(max(int(top.shape[0]), 1), n - 1)
    top = a[a[:, -1].argsort(descending=True)[:k]]
    bottom = b[b[:, -1].argsort()[: n - k]]
    return torch.cat([top, bottom])


def _mutant(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A local move on one configuration (N, d): basin-hopping steps (Wales & Doye 1997).

    Half the time the k nearest points of a random point (a cap) turn by a random angle
    about it, in a random 2-plane orthogonal to it (d = 3: about its axis), which moves a
    defect or a grain as a whole; otherwise they are shaken by Gaussian noise of 0.4 times
    the mean nearest-neighbour angle. k is drawn from 5..N/4.
    """
    n, d = x.shape
    center = x[int(torch.randint(n, (), generator=gen))]
    k = int(torch.randint(5, max(6, n // 4), (), generator=gen)) if n > 5 else n
    idx = (x @ center).topk(min(k, n)).indices
    out = x.clone()
    if d >= 3 and float(torch.rand((), generator=gen)) < 0.5:
        e = torch.randn(2, d, generator=gen, dtype=x.dtype)
        e = e - (e @ center)[:, None] * center  # tangent at the center
        e1 = e[0] / e[0].norm()
        e2 = e[1] - (e[1] @ e1) * e1
        e2 = e2 / e2.norm()
        angle = float(torch.rand((), generator=gen)) * 2 * math.pi
        c, s = math.cos(angle) - 1.0, math.sin(angle)
        rot = (torch.eye(d, dtype=x.dtype) + c * (torch.outer(e1, e1) + torch.outer(e2, e2))
               + s * (torch.outer(e2, e1) - torch.outer(e1, e2)))
        out[idx] = out[idx] @ rot.T
    else:
        g = x @ x.T
        g.fill_diagonal_(-1.0)
        spacing = float(torch.acos(g.amax(1).clamp(-1.0, 1.0)).mean())
        out[idx] += 0.4 * spacing * torch.randn(len(idx), d, generator=gen, dtype=x.dtype)
    return out / out.norm(dim=-1, keepdim=True)


def _children(pop: torch.Tensor, count: int, gen: torch.Generator,
              mutation: float = 0.0) -> torch.Tensor:
    """``count`` children of a population (P, N, d) sorted best first: with probability
    ``mutation`` a local move on one parent (``_mutant``), else a cut-and-splice of two."""
    p = pop.shape[0]
    kids = []
    for _ in range(count):
        i, j = (torch.rand(2, generator=gen) ** 2 * p).long().tolist()  # favour the best
        if mutation > 0 and float(torch.rand((), generator=gen)) < mutation:
            kids.append(_mutant(pop[i], gen))
            continue
        if p > 1 and i == j:
            j = (i + 1 + int(torch.randint(p - 1, (), generator=gen))) % p
        kids.append(_splice(pop[i], pop[j], gen))
    return torch.stack(kids)


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
    fg = _energy_fn(kernel, half_space, scale)
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


def _search(
    n: int,
    dim: int,
    restarts: int,
    first: int,
    fg: EnergyGrad,
    gen: torch.Generator,
    dev: torch.device,
    gtol: float,
    max_iter: int,
    mutation: float = 0.0,
    target: float | None = None,
    time_limit: float | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """Random starts, then generations of children; returns (population, energies, all
    finals, why it stopped).

    The population is sorted best first, its best member polished; ``all finals`` holds
    every descent's energy (float64, CPU), the best one replaced by its polished value.
    Generations stop early once the best reaches ``target`` or ``time_limit`` has passed.
    """
    start = time.perf_counter()

    def stop_reason() -> str | None:
        if target is not None and float(pop_f[0]) <= target + 1e-9 * abs(target):
            return "target"
        if time_limit is not None and time.perf_counter() - start >= time_limit:
            return "time limit"
        return None

    with torch.no_grad():
        u = _random_points(first, n, dim, gen).to(dev)
        pop, pop_f, _ = minimize(u, fg, max_iter=max_iter, gtol=gtol)
        finals = [pop_f]
        pop, pop_f = _select(pop, pop_f, first)
        done = first
        if callback is not None:
            callback(done, float(pop_f[0]))
        while done < restarts and stop_reason() is None:
            count = min(first, restarts - done)
            kids = _children(pop.cpu(), count, gen, mutation).to(dev)
            kids, kids_f, _ = minimize(kids, fg, max_iter=max_iter, gtol=gtol)
            finals.append(kids_f)
            done += count
            pop, pop_f = _select(torch.cat([pop, kids]), torch.cat([pop_f, kids_f]), first)
            if callback is not None:
                callback(done, float(pop_f[0]))
        stopped = "restarts" if done >= restarts else (stop_reason() or "restarts")
        best = pop[:1]
        polished, polished_f, _ = minimize(best, fg, max_iter=max_iter, gtol=gtol * 1e-3)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    f_all = torch.cat(finals).double().cpu()
    old_best = float(pop_f[0])
    if float(polished_f[0]) <= old_best:
        close = (f_all - old_best).abs() <= 1e-9 * max(abs(old_best), 1.0)
        f_all[close] = float(polished_f[0])  # same minimum, now at the float64 floor
        pop = torch.cat([polished, pop[1:]])
        pop_f = torch.cat([polished_f, pop_f[1:]])
    return pop, pop_f.double().cpu(), f_all, stopped


def _select(u: torch.Tensor, f: torch.Tensor, keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``keep`` lowest configurations with distinct energies (1e-9 relative), sorted."""
    order = f.argsort()
    chosen: list[int] = []
    last = None
    for i in order.tolist():
        e = float(f[i])
        if last is not None and abs(e - last) <= 1e-9 * max(abs(e), 1.0):
            continue
        chosen.append(i)
        last = e
        if len(chosen) == keep:
            break
    idx = torch.tensor(chosen, device=f.device)
    return u[idx], f[idx]


def min_angle(points: torch.Tensor, half_space: bool = False) -> float:
    """Smallest angle (degrees) between two of the points (or of [X, -X])."""
    x = torch.cat([points, -points]) if half_space else points
    g = x @ x.T
    g.fill_diagonal_(-1.0)
    return math.degrees(math.acos(min(1.0, float(g.max()))))
