"""Finite point groups of R³ as matrices, with their special orbits on S².

A configuration invariant under a group G is a union of orbits. A general orbit has |G|
points; the special orbits (points on a rotation axis, finitely many for the groups here,
which have no mirror plane) are fixed sets of fewer points. So N = Σ special + k |G|, and
a search over G-invariant configurations has k free points (``decompositions``).

Groups are built from generators by closure (Schoenflies names; orientation: principal
axis z, a 2-fold axis x for D_n, the cube's axes for T and O, a 2-fold axis z and 5-fold
axis (0, 1, φ) for I). Conway & Smith, "On Quaternions and Octonions" (2003), ch. 3, list
them; written here because no maintained Python library builds point-group matrices with
their axis orbits (scipy.spatial.transform.Rotation.create_group gives the proper groups
C_n, D_n, T, O, I only, without Ci, S_2n or the orbits).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache

import numpy as np

PHI = (1 + math.sqrt(5)) / 2

# groups of the orbit-constrained search: chiral or with inversion, none with a mirror
SEARCH_GROUPS = ("I", "O", "T", "D5", "D3", "S6", "D2", "C5", "C3", "S4", "C2", "Ci")


def rotation(axis: np.ndarray | list[float], angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` (radians) about ``axis`` (Rodrigues' formula)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def reflection(normal: np.ndarray | list[float]) -> np.ndarray:
    """(3, 3) mirror through the plane with unit ``normal``."""
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    return np.eye(3) - 2 * np.outer(n, n)


def close(generators: list[np.ndarray], limit: int = 240) -> np.ndarray:
    """All products of ``generators``: the group they generate, (|G|, 3, 3), identity first."""
    elems = [np.eye(3)]
    keys = {tuple(np.round(np.eye(3), 8).ravel())}
    frontier = list(elems)
    while frontier:
        new = []
        for g, h in itertools.product(frontier, generators):
            m = g @ h
            key = tuple(np.round(m, 8).ravel() + 0.0)
            if key not in keys:
                keys.add(key)
                elems.append(m)
                new.append(m)
        frontier = new
        if len(elems) > limit:
            raise ValueError("generators do not close on a finite point group")
    return np.stack(elems)


def generators(name: str) -> list[np.ndarray]:
    """Generators of the group ``name`` (C<n>, D<n>, S<2n>, Ci, T, O, I)."""
    z = [0.0, 0.0, 1.0]
    if name == "Ci":
        return [-np.eye(3)]
    if name in ("T", "O", "I"):
        c3 = rotation([1, 1, 1], 2 * math.pi / 3)
        if name == "T":
            return [rotation(z, math.pi), c3]
        if name == "O":
            return [rotation(z, math.pi / 2), c3]
        return [rotation(z, math.pi), c3, rotation([0, 1, PHI], 2 * math.pi / 5)]
    kind, n = name[0], int(name[1:])
    if kind == "C":
        return [rotation(z, 2 * math.pi / n)]
    if kind == "D":
        return [rotation(z, 2 * math.pi / n), rotation([1, 0, 0], math.pi)]
    if kind == "S" and n % 2 == 0:
        return [rotation(z, 2 * math.pi / n) @ reflection(z)]
    raise ValueError(f"unknown point group {name!r}")


@dataclass(frozen=True)
class PointGroup:
    """A point group: its matrices (|G|, 3, 3), identity first, and its special orbits."""

    name: str
    matrices: np.ndarray
    special: tuple[np.ndarray, ...]  # each (m, 3), m < |G|: the orbits of axis points

    @property
    def order(self) -> int:
        return int(self.matrices.shape[0])

    def lift(self, reps: np.ndarray) -> np.ndarray:
        """(k, 3) orbit representatives -> (k |G|, 3) points, the representatives first."""
        return np.einsum("gab,kb->gka", self.matrices, reps).reshape(-1, 3)


@cache
def point_group(name: str) -> PointGroup:
    mats = close(generators(name))
    return PointGroup(name, mats, _special_orbits(mats))


def _special_orbits(mats: np.ndarray) -> tuple[np.ndarray, ...]:
    """Orbits of the endpoints of every rotation axis that have fewer than |G| points."""
    points: list[np.ndarray] = []
    for m in mats[1:]:
        if np.linalg.det(m) < 0:
            continue  # no mirror here, so an improper element fixes no point of S²
        w, v = np.linalg.eig(m)
        axis = np.real(v[:, np.argmin(np.abs(w - 1))])
        axis /= np.linalg.norm(axis)
        for p in (axis, -axis):
            if all(np.linalg.norm(p - q) > 1e-8 for q in points):
                points.append(p)
    orbits: list[np.ndarray] = []
    seen: list[np.ndarray] = []
    for p in points:
        if any(np.linalg.norm(p - q) < 1e-8 for q in seen):
            continue
        orbit: list[np.ndarray] = []
        for q in mats @ p:
            if all(np.linalg.norm(q - r) > 1e-8 for r in orbit):
                orbit.append(q)
        seen.extend(orbit)
        if len(orbit) < mats.shape[0]:
            orbits.append(np.stack(orbit))
    return tuple(sorted(orbits, key=len))


def decompositions(n: int, group: PointGroup, max_count: int = 2) -> list[tuple[int, ...]]:
    """Ways to write N = Σ_{chosen special orbits} |orbit| + k |G| with k >= 1.

    Returns up to ``max_count`` tuples of special-orbit indices, fewest special points first;
    splits with the same orbit sizes count once (for the groups here they are conjugate in
    the normalizer of G: the poles of D2's three axes, D3's two 3-orbits, T's two 4-orbits).
    """
    out = []
    sizes_seen: set[tuple[int, ...]] = set()
    idx = range(len(group.special))
    for r in range(len(group.special) + 1):
        for combo in itertools.combinations(idx, r):
            rest = n - sum(len(group.special[i]) for i in combo)
            sizes = tuple(sorted(len(group.special[i]) for i in combo))
            if rest >= group.order and rest % group.order == 0 and sizes not in sizes_seen:
                sizes_seen.add(sizes)
                out.append(combo)
    out.sort(key=lambda c: sum(len(group.special[i]) for i in c))
    return out[:max_count]
