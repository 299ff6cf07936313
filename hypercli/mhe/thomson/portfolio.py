"""The portfolio search on S²: many point-group-constrained searches and one free search.

Most published Thomson minima have a 2- or 3-fold axis (N = 470 is S6), so the search runs
a portfolio of orbit-constrained searches (``orbits``: N/|G| free points, N²/|G| per
energy) over the groups of ``groups.SEARCH_GROUPS`` and every way N splits into their
orbits, never one guessed group. Each constrained minimum that is new for its search is
lifted to the N points, nudged off the symmetric subspace (1e-5 rad, so that a symmetric
saddle falls off) and polished without constraint. Beside them runs an unconstrained
search seeded with the lifted minima: cut-and-splice, cap turns and scar-targeted
moves (``moves.hole_move``), from random starts and the generalized spiral.

Cheap quenches: every descent stops at the loose ``gtol``; only candidates polished in the
full space count. A scheduler gives each search the same share of wall time (the free
search a larger one), cheapest first, so the 60-element groups are tried in the first
second and the 2-element ones get the same time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from hypercli.mhe.kernels import Kernel
from hypercli.mhe.thomson.groups import SEARCH_GROUPS, PointGroup, decompositions, point_group
from hypercli.mhe.thomson.lbfgs import minimize
from hypercli.mhe.thomson.minima import MinimaRegistry, distinct_lowest
from hypercli.mhe.thomson.moves import (
    _mutant,
    _random_points,
    _splice,
    hole_move,
    spiral_points,
)
from hypercli.mhe.thomson.orbits import lift, orbit_energy_fn, special_points
from hypercli.mhe.thomson.pair_energy import EnergyGrad, energy_fn

FREE_WEIGHT = 3.0  # the free search's share of time against one constrained search
NEAR = 1e-6  # screened minima this close (relative) to the best are polished fully


@dataclass
class Search:
    """One search of the portfolio: a point group and orbit split, or the free search."""

    label: str
    group: PointGroup | None
    special: np.ndarray
    k: int  # free points
    fg: EnergyGrad
    weight: float = 1.0
    seconds: float = 0.0
    descents: int = 0
    pop: torch.Tensor | None = None
    pop_f: torch.Tensor | None = None
    best: float = float("inf")  # the lowest constrained energy


@dataclass
class Status:
    """What the live status line shows."""

    best: float
    descents: int
    minima: int
    seconds: float
    search: str


@dataclass
class Outcome:
    points: torch.Tensor  # (N, 3) the best configuration, polished
    energy: float
    energies: list[float]  # each descent's final energy
    hits: int  # polished candidates that reached the best energy (1e-9 relative)
    descents: int
    minima: int  # distinct full-space minima polished or reached
    found_by: str
    seconds_to_best: float
    stopped: str
    searches: list[dict] = field(default_factory=list)


def build_searches(n: int, kernel: Kernel, scale: float,
                   groups: tuple[str, ...] = SEARCH_GROUPS) -> list[Search]:
    """The free search and one constrained search per group and orbit split of N."""
    out = [Search("free", None, np.zeros((0, 3)), n, energy_fn(kernel, False, scale),
                  weight=FREE_WEIGHT)]
    for name in groups:
        g = point_group(name)
        for combo in decompositions(n, g):
            sp = special_points(g, combo)
            k = (n - len(sp)) // g.order
            if k < 2 and not len(sp):
                continue
            label = f"{name}: {k} orbits" + (f" + {len(sp)} on axes" if len(sp) else "")
            out.append(Search(label, g, sp, k, orbit_energy_fn(kernel, g, sp, scale)))
    return out


def portfolio_search(
    n: int,
    kernel: Kernel,
    scale: float,
    gen: torch.Generator,
    population: int = 8,
    gtol: float = 1e-5,
    polish_gtol: float = 1e-9,
    max_descents: int | None = None,
    target: float | None = None,
    time_limit: float | None = None,
    callback: Callable[[Status], None] | None = None,
    groups: tuple[str, ...] = SEARCH_GROUPS,
    max_iter: int = 5000,
    patience: float | None = None,
) -> Outcome:
    """Run the portfolio until ``target``, ``time_limit`` or ``max_descents``; float64, CPU.

    With ``patience`` (seconds) it also stops once the best has not improved for
    ``patience`` + the time it took to find it ("no improvement").
    """
    t0 = time.perf_counter()
    full = energy_fn(kernel, False, scale)
    searches = build_searches(n, kernel, scale, groups)
    registry = MinimaRegistry()
    pool: list[tuple[float, torch.Tensor]] = []  # the best distinct full minima, sorted
    state = {"best": float("inf"), "x": None, "by": "", "t": 0.0, "descents": 0, "hits": 0}
    energies: list[float] = []

    def remember(x: torch.Tensor, f: float) -> None:
        """A full-space minimum (screened or polished): count it, keep it as a parent."""
        if registry.add(f, x) and (len(pool) < 2 * population or f < pool[-1][0]):
            pool.append((f, x))
            pool.sort(key=lambda p: p[0])
            del pool[2 * population:]

    def offer(x: torch.Tensor, f: float, by: str) -> None:
        """A polished minimum: the best so far, another hit of it, or neither."""
        remember(x, f)
        tol = 1e-9 * max(abs(f), 1.0)
        if f < state["best"] - tol:
            state.update(best=f, x=x, by=by, t=time.perf_counter() - t0, hits=1)
        elif f <= state["best"] + tol:
            state["hits"] += 1
            if f < state["best"]:
                state.update(best=f, x=x)

    def descend(x: torch.Tensor, tol: float) -> tuple[torch.Tensor, float]:
        xp, fp, _ = minimize(x[None], full, max_iter=max_iter, gtol=tol)
        return xp[0], float(fp[0])

    def near_best(f: float) -> bool:
        return state["x"] is None or f <= state["best"] + NEAR * abs(state["best"])

    def screen_and_polish(x: torch.Tensor, f: float, by: str) -> None:
        """Full polish only for a screened minimum near the best (cheap quenches)."""
        if near_best(f):
            xp, fp = descend(x, polish_gtol)
            offer(xp, fp, by)
        else:
            remember(x, f)

    def stop_reason() -> str | None:
        if target is not None and state["best"] <= target + 1e-9 * abs(target):
            return "target"
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            return "time limit"
        if max_descents is not None and state["descents"] >= max_descents:
            return "restarts"
        now = time.perf_counter() - t0
        if patience is not None and now - state["t"] >= patience + state["t"]:
            return "no improvement"
        return None

    def step_constrained(s: Search) -> None:
        b = population
        if s.pop is None:
            u = _random_points(b, s.k, 3, gen)
        else:
            kids = [_mutant(s.pop[int(torch.randint(len(s.pop), (), generator=gen))], gen)
                    if s.k > 5 else _random_points(1, s.k, 3, gen)[0] for _ in range(b - b // 4)]
            u = torch.cat([torch.stack(kids), _random_points(b // 4, s.k, 3, gen)])
        u, f, _ = minimize(u, s.fg, max_iter=max_iter, gtol=gtol)
        s.descents += b
        state["descents"] += b
        energies.extend(f.tolist())
        allu = u if s.pop is None else torch.cat([s.pop, u])
        allf = f if s.pop_f is None else torch.cat([s.pop_f, f])
        keep = distinct_lowest(allf, population)
        s.pop, s.pop_f = allu[keep], allf[keep]
        # lift this batch's two lowest distinct minima that are new lows for this search (or
        # near the best), nudge them off the symmetric subspace, descend, polish if near
        for i in distinct_lowest(f, 2).tolist():
            fi = float(f[i])
            if fi > s.best * (1 + 1e-9) and fi > state["best"] * (1 + 1e-5):
                continue
            s.best = min(s.best, fi)
            x = lift(u[i:i + 1], s.group, s.special)[0]
            x = x + 1e-5 * torch.randn(x.shape, generator=gen, dtype=x.dtype)
            xs, fs = descend(x / x.norm(dim=-1, keepdim=True), gtol)
            screen_and_polish(xs, fs, s.label)

    def step_free(s: Search) -> None:
        b = population
        if s.descents == 0:
            u = torch.cat([spiral_points(n)[None], _random_points(b - 1, n, 3, gen)])
        else:
            parents = [p[1] for p in pool] or [state["x"]]
            kids = []
            for _ in range(b):
                i = int(float(torch.rand((), generator=gen)) ** 2 * len(parents))  # best first
                r = float(torch.rand((), generator=gen))
                if r < 0.35 and len(parents) > 1:
                    j = int(torch.randint(len(parents), (), generator=gen))
                    kids.append(_splice(parents[i], parents[j], gen))
                elif r < 0.7:
                    kids.append(_mutant(parents[i], gen))
                else:
                    kids.append(hole_move(parents[i], gen))
            u = torch.stack(kids)
        u, f, _ = minimize(u, s.fg, max_iter=max_iter, gtol=gtol)
        s.descents += b
        state["descents"] += b
        energies.extend(f.tolist())
        for i in distinct_lowest(f, b).tolist():
            screen_and_polish(u[i], float(f[i]), "free")
        s.best = min(s.best, float(f.min()))

    # first round: every search once, cheapest first; then the least-served search
    order = sorted(searches, key=lambda s: s.k * n)
    first = list(order)
    stopped = None
    with torch.no_grad():
        while True:
            s = first.pop(0) if first else min(searches, key=lambda s: s.seconds / s.weight)
            t1 = time.perf_counter()
            (step_free if s.group is None else step_constrained)(s)
            s.seconds += time.perf_counter() - t1
            if callback is not None:
                callback(Status(state["best"], state["descents"], len(registry),
                                time.perf_counter() - t0, s.label))
            stopped = stop_reason()
            if stopped:
                break
    return Outcome(
        points=state["x"], energy=state["best"], energies=energies, hits=state["hits"],
        descents=state["descents"], minima=len(registry), found_by=state["by"],
        seconds_to_best=state["t"], stopped=stopped,
        searches=[{"search": s.label, "free_points": s.k, "descents": s.descents,
                   "seconds": round(s.seconds, 3),
                   "best": s.best if s.best < float("inf") else None} for s in searches],
    )
