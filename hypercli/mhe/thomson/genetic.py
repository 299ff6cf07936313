"""The genetic search: random starts, then generations of children of the best minima.

Cut-and-splice crossovers (Morris, Deaven & Ho, Phys. Rev. B 53, 1996) and local moves
(basin hopping, Wales & Doye, JPC A 101, 1997), relaxed in batches by ``lbfgs.minimize``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from hypercli.mhe.thomson.lbfgs import minimize
from hypercli.mhe.thomson.minima import distinct_lowest
from hypercli.mhe.thomson.moves import _children, _random_points
from hypercli.mhe.thomson.pair_energy import EnergyGrad


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
    idx = distinct_lowest(f, keep).to(f.device)
    return u[idx], f[idx]


