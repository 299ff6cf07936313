"""Point groups: construction and axis orbits, the orbit-constrained energy against the full
one, and the detector naming the group of constructed configurations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from hypercli.mhe.kernels import parse_kernel
from hypercli.mhe.thomson.groups import SEARCH_GROUPS, decompositions, point_group, rotation
from hypercli.mhe.thomson.orbits import lift, orbit_energy_fn, special_points
from hypercli.mhe.thomson.pair_energy import energy_fn
from hypercli.mhe.thomson.symmetry import detect_point_group
from tests.mhe.polyhedra import icosahedron, unit

ORDERS = {"I": 60, "O": 24, "T": 12, "D5": 10, "D3": 6, "S6": 6, "D2": 4, "C5": 5, "C3": 3,
          "S4": 4, "C2": 2, "Ci": 2}
AXIS_ORBITS = {"I": [12, 20, 30], "O": [6, 8, 12], "T": [4, 4, 6], "D5": [2, 5, 5],
               "D3": [2, 3, 3], "S6": [2], "D2": [2, 2, 2], "C5": [1, 1], "C3": [1, 1],
               "S4": [2], "C2": [1, 1], "Ci": []}


def ring(k: int, z: float, phase: float = 0.0) -> list[list[float]]:
    r = math.sqrt(1 - z * z)
    return [[r * math.cos(2 * math.pi * i / k + phase), r * math.sin(2 * math.pi * i / k + phase),
             z] for i in range(k)]


@pytest.mark.parametrize("name", SEARCH_GROUPS)
def test_groups_are_closed_orthogonal_with_their_axis_orbits(name):
    g = point_group(name)
    m = g.matrices
    assert g.order == ORDERS[name] and np.allclose(m[0], np.eye(3))
    assert np.allclose(np.einsum("gab,gcb->gac", m, m), np.eye(3), atol=1e-12)
    keys = {tuple(np.round(a @ b, 8).ravel() + 0.0) for a in m for b in m}
    assert len(keys) == g.order  # closed under products
    assert sorted(len(o) for o in g.special) == AXIS_ORBITS[name]
    for orbit in g.special:  # each orbit is mapped onto itself
        for mat in m:
            d = np.linalg.norm((orbit @ mat.T)[:, None] - orbit[None], axis=-1)
            assert np.allclose(d.min(1), 0, atol=1e-9)
    for n in (470, 972, 100):
        for combo in decompositions(n, g):
            rest = n - sum(len(g.special[i]) for i in combo)
            assert rest > 0 and rest % g.order == 0


@pytest.mark.parametrize("s", ["0", "1", "2", "a1"])
@pytest.mark.parametrize("name, n", [("S6", 74), ("I", 72), ("D3", 41), ("C2", 30),
                                     ("T", 40)])
def test_orbit_energy_is_the_energy_of_the_lifted_points(name, n, s):
    g = point_group(name)
    sp = special_points(g, decompositions(n, g)[0])
    k = (n - len(sp)) // g.order
    gen = torch.Generator().manual_seed(0)
    reps = torch.randn(2, k, 3, generator=gen, dtype=torch.float64)
    reps = reps / reps.norm(dim=-1, keepdim=True)
    kernel = parse_kernel(s)
    scale = 0.5 if s == "0" else 1.0
    e, grad = orbit_energy_fn(kernel, g, sp, scale)(reps)
    x = lift(reps, g, sp)
    assert x.shape == (2, n, 3)
    e_full, g_full = energy_fn(kernel, False, scale)(x)
    torch.testing.assert_close(e, e_full, rtol=1e-10, atol=1e-9)
    # ∂E/∂x_r = Σ_g gᵀ (force on g x_r) = |G| × the force on x_r
    torch.testing.assert_close(grad, g.order * g_full[:, :k], rtol=1e-9, atol=1e-7)


def lifted(name: str, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return point_group(name).lift(unit(rng.standard_normal((k, 3))))


CONFIGURATIONS = {
    "icosahedron": (icosahedron, "Ih"),
    "cube": (lambda: unit(list(itertools.product((1, -1), repeat=3))), "Oh"),
    "octahedron": (lambda: np.vstack([np.eye(3), -np.eye(3)]), "Oh"),
    "tetrahedron": (lambda: unit([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]), "Td"),
    "D5 antiprism": (lambda: unit(ring(5, 0.4) + ring(5, -0.4, math.pi / 5)), "D5d"),
    "D5 prism": (lambda: unit(ring(5, 0.4) + ring(5, -0.4)), "D5h"),
    "twisted D5 prism": (lambda: unit(ring(5, 0.4) + ring(5, -0.4, 0.3)), "D5"),
    "triangular bipyramid": (lambda: unit(ring(3, 0.0) + [[0, 0, 1], [0, 0, -1]]), "D3h"),
    "pentagonal pyramid": (lambda: unit(ring(5, -0.3) + [[0, 0, 1]]), "C5v"),
    "random C2 orbits": (lambda: lifted("C2", 9), "C2"),
    "random S6 orbits": (lambda: lifted("S6", 5), "S6"),
    "random T orbits": (lambda: lifted("T", 3), "T"),
    "random I orbits": (lambda: lifted("I", 2), "I"),
    "random D3 orbits": (lambda: lifted("D3", 4), "D3"),
    "random Ci pairs": (lambda: lifted("Ci", 8), "Ci"),
    "random points": (lambda: unit(np.random.default_rng(3).standard_normal((30, 3))), "C1"),
}


@pytest.mark.parametrize("case", list(CONFIGURATIONS))
def test_detector_names_the_group(case):
    build, expected = CONFIGURATIONS[case]
    x = build()
    assert detect_point_group(x).name == expected
    # any orientation: the same group
    turned = x @ rotation([0.3, -1.2, 0.7], 1.1).T
    assert detect_point_group(turned).name == expected


def test_detector_tolerance():
    x = icosahedron()
    rng = np.random.default_rng(0)
    slightly = unit(x + 1e-7 * rng.standard_normal(x.shape))
    assert detect_point_group(slightly).name == "Ih"
    broken = unit(x + 3e-2 * rng.standard_normal(x.shape))
    assert detect_point_group(broken).name == "C1"
    r = detect_point_group(x)
    assert r.order == 120 and r.inversion and r.axes == {5: 6, 3: 10, 2: 15} and r.mirrors == 15
