"""The Voronoi defect census on S² against configurations whose neighbours are known."""

from __future__ import annotations

import itertools
import math

import numpy as np

from hypercli.mhe.thomson.census import coordination_numbers, defect_census
from tests.mhe.polyhedra import icosahedron, unit


def test_icosahedron_twelve_fivefold():
    c = defect_census(icosahedron())
    assert c.coordination == {5: 12} and c.charge == 12
    assert c.isolated == 0 and c.scars == 1 and c.scar_sizes == [12]  # all 12 touch


def test_truncated_icosahedral_n32_twelve_fives_twenty_sixes():
    """N = 32: the icosahedron's 12 vertices and its 20 face centres (the pentakis
    dodecahedron): each vertex has 5 face neighbours, each face centre 3 vertices and 3
    face centres."""
    ico = icosahedron()
    faces = [f for f in itertools.combinations(range(12), 3)
             if all(np.isclose(ico[a] @ ico[b], 1 / math.sqrt(5)) for a, b
                    in itertools.combinations(f, 2))]
    assert len(faces) == 20
    x = np.vstack([ico, unit([ico[list(f)].sum(0) for f in faces])])
    coord = coordination_numbers(x)
    assert list(coord[:12]) == [5] * 12 and list(coord[12:]) == [6] * 20
    c = defect_census(x)
    assert c.coordination == {5: 12, 6: 20} and c.isolated == 12 and c.scars == 0


def test_euler_charge_and_scars_on_random_points():
    x = unit(np.random.default_rng(0).standard_normal((200, 3)))
    c = defect_census(x)
    assert sum(c.coordination.values()) == 200
    assert c.charge == 12  # Σ (6 - c) = 6 V - 2 E = 12 for any triangulation of S²
    assert sum(c.scar_sizes) + c.isolated == sum(v for k, v in c.coordination.items() if k != 6)
