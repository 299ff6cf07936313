"""Configurations built by hand for the Thomson tests: unit rows, the icosahedron."""

from __future__ import annotations

import itertools
import math

import numpy as np

PHI = (1 + math.sqrt(5)) / 2


def unit(rows) -> np.ndarray:  # noqa: ANN001
    x = np.array(rows, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def icosahedron() -> np.ndarray:
    """The 12 vertices (0, ±1, ±φ) and their cyclic permutations, on the unit sphere."""
    return unit([p for a, b in itertools.product((-1, 1), repeat=2)
                 for p in ([0, a, b * PHI], [a, b * PHI, 0], [b * PHI, 0, a])])
