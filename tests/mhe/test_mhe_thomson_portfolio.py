"""The portfolio search on S²: published minima from N = 41 on, the stop rules, the report,
and its pieces (spiral starts, hole moves, distinct minima)."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hypercli.errors import HyperError
from hypercli.mhe.thomson import solve
from hypercli.mhe.thomson.groups import rotation
from hypercli.mhe.thomson.minima import MinimaRegistry
from hypercli.mhe.thomson.moves import hole_move, spiral_points
from hypercli.mhe.thomson.published import published_energy

TABLE = Path(__file__).resolve().parent / "thomson_s1.csv"  # the project's table, N = 2..40
BEYOND = {69: 2064.533483235, 100: 4448.350634331}  # Wikipedia "Thomson problem" table


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def loop_energy(points: np.ndarray) -> float:
    return sum(1 / math.dist(a, b) for a, b in itertools.combinations(points.tolist(), 2))


def test_shipped_table_agrees_with_the_reference_table():
    with open(TABLE) as fh:
        ref = {int(r["N"]): float(r["energy"]) for r in csv.DictReader(fh)}
    for n, e in ref.items():
        assert published_energy(n) == e
    for n, e in BEYOND.items():
        assert published_energy(n) == e
    assert published_energy(12, dim=4) is None and published_energy(12, s="0") is None
    assert published_energy(12, half_space=True) is None


@pytest.mark.parametrize("n, seed", [(69, 0), (100, 1), (100, 2)])
def test_portfolio_reaches_published_minima(n, seed):
    ref = BEYOND[n]
    r = solve(n, 3, "1", seed=seed, target=ref, time_limit=60)
    assert r.strategy == "portfolio" and r.stopped == "target"
    assert abs(r.energy - ref) <= 1e-9 * ref
    assert r.published == ref and abs(r.gap) <= 1e-9
    assert loop_energy(r.points) == pytest.approx(r.energy, rel=1e-12)
    assert r.found_by and r.minima >= 1 and r.hits >= 1 and 0 < r.seconds_to_best <= r.seconds
    assert r.census["charge"] == 12 and sum(r.census["coordination"].values()) == n


def test_portfolio_other_energies_and_stop_rules():
    r = solve(50, 3, "0", restarts=40, seed=0)  # log energy: a descent budget
    assert r.strategy == "portfolio" and r.stopped == "restarts" and r.restarts >= 40
    g = solve(50, 3, "0", restarts=40, seed=0, strategy="genetic")
    assert r.energy <= g.energy + 1e-9 * abs(g.energy)
    t = solve(60, 3, "a1", time_limit=0.5, seed=0)
    assert t.stopped == "time limit" and t.published is None and t.gap is None


def test_portfolio_stops_without_improvement_when_unbounded():
    r = solve(44, 3, "1", seed=0, patience=1.0)
    assert r.stopped == "no improvement"
    assert r.seconds >= 1.0 + 2 * r.seconds_to_best


def test_portfolio_needs_the_sphere():
    with pytest.raises(HyperError, match="--dim 3"):
        solve(50, 4, "1", strategy="portfolio")
    with pytest.raises(HyperError, match="--strategy"):
        solve(50, 3, "1", strategy="best")
    assert solve(50, 3, "1", half_space=True, restarts=4).strategy == "genetic"  # auto


def test_spiral_start_is_spread_out():
    x = spiral_points(100)
    np.testing.assert_allclose(x.norm(dim=1).numpy(), 1.0, atol=1e-12)
    assert float(x[0, 2]) == -1.0 and float(x[-1, 2]) == 1.0
    assert loop_energy(x.numpy()) < 1.002 * BEYOND[100]  # within 0.2% of the minimum


def test_hole_move_fills_the_largest_hole():
    gen = torch.Generator().manual_seed(0)
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((80, 3)))
    x = x / x.norm(dim=1, keepdim=True)
    # the largest empty cap, by brute force over a fine grid of directions
    grid = torch.as_tensor(np.random.default_rng(1).standard_normal((200000, 3)))
    grid = grid / grid.norm(dim=1, keepdim=True)
    best_gap = float((grid @ x.T).amax(1).min())  # cos of the largest empty-cap radius
    for _ in range(5):
        y = hole_move(x, gen)
        torch.testing.assert_close(y.norm(dim=1), torch.ones(80, dtype=torch.float64))
        moved = ((y - x).norm(dim=1) > 1e-12).nonzero().squeeze(1)
        assert 1 <= len(moved) <= 3
        # one of the moved points sits (to the 1e-3 nudge) in the largest hole
        rest = torch.ones(80, dtype=torch.bool)
        rest[moved] = False
        gaps = [float((y[i] @ x[rest].T).max()) for i in moved]
        assert min(gaps) <= best_gap + 2e-3


def test_registry_counts_turned_copies_once():
    x = spiral_points(30)
    reg = MinimaRegistry()
    e = loop_energy(x.numpy())
    assert reg.add(e, x)
    turned = x @ torch.as_tensor(rotation([1, 2, 3], 0.7)).T
    assert not reg.add(e + 1e-12 * e, turned[torch.randperm(30)])
    y = x.clone()
    y[0] = -y[0]
    assert reg.add(e, y)  # same energy, another configuration
    assert len(reg) == 2
