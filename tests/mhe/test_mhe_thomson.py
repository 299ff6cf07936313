"""The Thomson solver against published minima (shared/data/thomson_s1.csv), closed forms
for the simplex, the cross-polytope and the regular polygon, and a per-pair float64 loop."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hypercli.errors import HyperError
from hypercli.mhe.thomson import _mutant, solve

TABLE = Path(__file__).resolve().parent / "thomson_s1.csv"  # the published Thomson table, N=2..40


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def published() -> dict[int, float]:
    with open(TABLE) as fh:
        return {int(r["N"]): float(r["energy"]) for r in csv.DictReader(fh)}


def loop_energy(points: np.ndarray, s: float) -> float:
    """Σ_{i<j} ||x_i - x_j||^(-s) (s = 0: Σ log 1/r), one pair at a time in float64."""
    total = 0.0
    for a, b in itertools.combinations(points.tolist(), 2):
        r = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
        total += -math.log(r) if s == 0 else r ** (-s)
    return total


# every N up to 20 with few starts, and a spread of harder ones with the default 20
CASES = [(n, 6) for n in range(2, 21)] + [(n, 20) for n in (24, 29, 32, 37, 40)]


@pytest.mark.parametrize("n, restarts", CASES)
def test_reproduces_published_coulomb_minima(n, restarts):
    ref = published()[n]
    r = solve(n, 3, "1", restarts=restarts, seed=0, device="cpu")
    assert abs(r.energy - ref) <= 1e-8 * ref
    assert 1 <= r.hits <= restarts and len(r.energies) == restarts
    assert r.energies[0] == r.energy
    pts = r.points
    assert pts.shape == (n, 3)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0, atol=1e-12)
    assert loop_energy(pts, 1) == pytest.approx(r.energy, rel=1e-12)


def simplex_energy(n: int, s: float) -> float:
    r = math.sqrt(2 * n / (n - 1))  # cosines -1/(N-1)
    pairs = n * (n - 1) / 2
    return pairs * (-math.log(r) if s == 0 else r ** (-s))


def cross_energy(d: int, s: float) -> float:
    f = (lambda r: -math.log(r)) if s == 0 else (lambda r: r ** (-s))
    return d * f(2.0) + (d * (2 * d - 1) - d) * f(math.sqrt(2.0))


@pytest.mark.parametrize("s", [0, 1, 2, 1.5])
@pytest.mark.parametrize("d", [3, 4, 5])
def test_simplex_and_cross_polytope(d, s):
    for n in range(2, d + 2):
        r = solve(n, d, s, restarts=3, device="cpu")
        assert r.energy == pytest.approx(simplex_energy(n, s), rel=1e-10, abs=1e-10)
        assert r.min_angle == pytest.approx(math.degrees(math.acos(-1 / (n - 1))), abs=1e-4)
    r = solve(2 * d, d, s, restarts=3, device="cpu")
    assert r.energy == pytest.approx(cross_energy(d, s), rel=1e-10)
    assert r.min_angle == pytest.approx(90.0, abs=1e-4)


@pytest.mark.parametrize("n", [3, 5, 8])
def test_regular_polygon_on_the_circle(n):
    expected = sum(1 / (2 * math.sin(math.pi * (j - i) / n))
                   for i, j in itertools.combinations(range(n), 2))
    r = solve(n, 2, "1", restarts=3, device="cpu")
    assert r.energy == pytest.approx(expected, rel=1e-10)
    assert r.min_angle == pytest.approx(360 / n, abs=1e-4)


def test_half_space_scores_the_antipodal_configuration():
    table = published()
    # [X, -X] with 3 points is the octahedron, with 6 points the icosahedron
    assert solve(3, 3, "1", half_space=True, restarts=3).energy == pytest.approx(table[6], 1e-9)
    r = solve(6, 3, "1", half_space=True, restarts=4)
    assert r.energy == pytest.approx(table[12], rel=1e-9)
    assert loop_energy(np.concatenate([r.points, -r.points]), 1) == pytest.approx(r.energy, 1e-12)


@pytest.mark.parametrize("s", ["a0", "a1", "a2"])
def test_angular_forms_are_minimized_and_reported_as_sums(s):
    r = solve(7, 3, s, restarts=4)
    p = float(s[1:])
    g = r.points @ r.points.T
    t = np.arccos(np.clip(g[np.triu_indices(7, 1)], -1, 1)) / np.pi + 1e-4
    expected = float((-np.log(t)).sum() if p == 0 else (t ** -p).sum())
    assert r.energy == pytest.approx(expected, rel=1e-10)
    # random configurations are worse
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t0 = np.arccos(np.clip((x @ x.T)[np.triu_indices(7, 1)], -1, 1)) / np.pi + 1e-4
    assert r.energy < float((-np.log(t0)).sum() if p == 0 else (t0 ** -p).sum())


def test_seeded_and_genetic_restarts_never_worse():
    a = solve(31, 3, "1", restarts=4, population=4, seed=3)
    b = solve(31, 3, "1", restarts=4, population=4, seed=3)
    assert a.energy == b.energy and np.array_equal(a.points, b.points)
    c = solve(31, 3, "1", restarts=12, population=4, seed=3)  # same 4 starts, then 8 splices
    assert c.energy <= a.energy + 1e-9 and len(c.energies) == 12


@pytest.mark.parametrize("d", [3, 4])
def test_mutant_moves_one_cap_and_stays_on_the_sphere(d):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(80, d, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    for _ in range(20):
        y = _mutant(x, gen)
        torch.testing.assert_close(y.norm(dim=1), torch.ones(80, dtype=torch.float64))
        moved = ((y - x).norm(dim=1) > 1e-12).nonzero().squeeze(1)
        assert 1 <= len(moved) <= 80 // 4  # a local move: at most a quarter of the points
        # the moved points are the k nearest of one point (a spherical cap about it; a
        # turn about the centre leaves the centre itself in place)
        m = set(moved.tolist())
        caps = [set((x @ c).topk(len(m) + 1).indices.tolist()) for c in x]
        assert any(m <= cap for cap in caps)


def test_target_stops_the_search_when_reached():
    ref = published()[32]
    seen = []
    r = solve(32, 3, "1", restarts=2000, population=8, seed=0, mutation=0.5, target=ref,
              callback=lambda done, best: seen.append((done, best)))
    assert abs(r.energy - ref) <= 1e-8 * ref
    assert r.stopped == "target" and r.restarts < 2000 and len(r.energies) == r.restarts
    assert seen[-1][0] == r.restarts  # the callback saw every batch
    bests = [b for _, b in seen]
    assert all(b2 <= b1 for b1, b2 in zip(bests, bests[1:], strict=False))  # never worse
    assert bests[-1] <= ref + 1e-9 * ref


def test_time_limit_stops_new_generations():
    r = solve(60, 3, "1", restarts=10**6, population=4, seed=0, time_limit=0.2)
    assert r.stopped == "time limit" and 4 <= r.restarts < 10**6
    full = solve(12, 3, "1", restarts=8, population=4, seed=0)
    assert full.stopped == "restarts" and full.restarts == 8


def test_local_moves_reach_published_minima():
    """Children that are all local moves (mutation=1) still reach the published minimum."""
    ref = published()[38]
    r = solve(38, 3, "1", restarts=64, population=8, seed=1, mutation=1.0)
    assert abs(r.energy - ref) <= 1e-8 * ref


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 1}, "at least 2 points"),
    ({"n": 5, "dim": 1}, "dim must be >= 2"),
    ({"n": 5, "restarts": -1}, "at least 1 start"),
    ({"n": 5, "restarts": 0}, "at least 1 start"),
    ({"n": 5, "population": 0}, "population"),
    ({"n": 5, "s": "q"}, "unknown MHE energy"),
    ({"n": 5, "s": -1}, "unknown MHE energy"),
    ({"n": 5, "device": "tpu"}, "unknown device"),
    ({"n": 5, "mutation": 1.5}, "fraction of the children"),
    ({"n": 5, "mutation": -0.1}, "fraction of the children"),
    ({"n": 5, "time_limit": 0}, "positive number of seconds"),
])
def test_bad_arguments_are_user_errors(kwargs, match):
    with pytest.raises(HyperError, match=match):
        solve(**kwargs)
