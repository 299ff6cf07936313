"""The point group of a configuration on S², detected within a tolerance (Schoenflies name).

Every symmetry maps each class of points with equal Coulomb potential onto itself, and a
k-fold axis passes through a point, the midpoint of two points of one class or the centre
of a k-gon of one class. So the candidate axes are the points, and, for the classes from the
smallest up, the midpoints of each point and its nearest class members and the normals of
their triangles; mirror normals are the differences and cross products of those pairs.
An operation is a symmetry when it maps every point to within ``tol`` (chord length) of a
point (scipy.spatial.cKDTree). The rotation axes, inversion, mirrors and rotoreflections
found then name the group by the usual flow chart (Cotton, Chemical
Applications of Group Theory, 3rd ed., 1990, Sec. 3.14). Written here because no
maintained Python library detects point groups of point sets without a molecule model
(pymatgen's PointGroupAnalyzer needs species and pulls in a large stack).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hypercli.mhe.thomson.groups import reflection, rotation

ORDERS = (6, 5, 4, 3, 2)  # rotation orders tried about each candidate axis
NEAREST = 5  # pairs and triples of a point with its nearest members of its class
CANDIDATES = 3000  # classes, smallest first, add candidates until there are this many


@dataclass
class PointGroupReport:
    name: str  # Schoenflies: C1, Ci, Cs, Cn, Cnv, Cnh, S2n, Dn, Dnd, Dnh, T, Td, Th, O, Oh, I, Ih
    order: int
    axes: dict[int, int] = field(default_factory=dict)  # rotation order -> number of axes
    inversion: bool = False
    mirrors: int = 0

    def to_dict(self) -> dict:
        return {"name": self.name, "order": self.order,
                "axes": {str(k): v for k, v in sorted(self.axes.items(), reverse=True)},
                "inversion": self.inversion, "mirrors": self.mirrors}


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else None


def _dedupe(dirs: list[np.ndarray]) -> list[np.ndarray]:
    """Directions up to sign (equal to 5 decimals)."""
    if not dirs:
        return []
    d = np.stack(dirs)
    lead = np.argmax(np.abs(d) > 1e-6, axis=1)
    d = d * np.sign(d[np.arange(len(d)), lead])[:, None]
    _, first = np.unique(np.round(d, 5), axis=0, return_index=True)
    return [d[i] for i in sorted(first)]


def detect_point_group(points: np.ndarray, tol: float = 1e-3) -> PointGroupReport:
    """The point group of (N, 3) unit vectors; ``tol`` is in units of the smallest distance
    between two points (1e-3: a symmetric minimum polished at float64 passes, a random
    configuration does not)."""
    from scipy.spatial import cKDTree

    x = np.asarray(points, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    n = len(x)
    tree = cKDTree(x)
    if n > 1:
        dmin = float(tree.query(x, k=2)[0][:, 1].min())
    else:
        dmin = 1.0
    eps = tol * dmin

    probe = x[: min(n, 8)]

    def is_symmetry(m: np.ndarray) -> bool:
        d, _ = tree.query(probe @ m.T, k=1, distance_upper_bound=eps * 10)  # most fail here
        if not np.all(d <= eps):
            return False
        d, _ = tree.query(x @ m.T, k=1, distance_upper_bound=eps * 10)
        return bool(np.all(d <= eps))

    # classes of equal Coulomb potential
    r2 = np.clip(2 - 2 * x @ x.T, 1e-300, None)
    np.fill_diagonal(r2, np.inf)
    pot = (1 / np.sqrt(r2)).sum(1)
    order = np.argsort(pot)
    classes: list[list[int]] = []
    for i in order:
        if classes and abs(pot[i] - pot[classes[-1][0]]) <= 1e-3 * tol * max(1.0, pot[i]):
            classes[-1].append(int(i))
        else:
            classes.append([int(i)])
    cand = list(x)  # axes through a point
    mirror_raw: list[np.ndarray | None] = []
    for cls in sorted(classes, key=len):
        if len(cand) > CANDIDATES + n:
            break
        c = x[cls]
        near = np.argsort(-(c @ c.T), axis=1)[:, 1:NEAREST + 1]  # nearest class members
        for i in range(len(c)):
            for a in range(near.shape[1]):
                j = near[i, a]
                cand.append(_unit(c[i] + c[j]))  # an axis through a midpoint
                mirror_raw += [_unit(c[i] - c[j]), _unit(np.cross(c[i], c[j]))]
                for b in range(a + 1, near.shape[1]):  # through the centre of a polygon
                    cand.append(_unit(np.cross(c[j] - c[i], c[near[i, b]] - c[i])))
    axes = _dedupe([a for a in cand if a is not None])
    mirror_cand = _dedupe([m for m in mirror_raw + axes if m is not None])

    found: list[tuple[np.ndarray, int]] = []  # (axis, highest order)
    for a in axes:
        for k in ORDERS:
            if is_symmetry(rotation(a, 2 * math.pi / k)):
                found.append((a, k))
                break
    # a 6-fold axis is also 3- and 2-fold; count each axis once at its highest order
    count: dict[int, int] = {}
    for _, k in found:
        count[k] = count.get(k, 0) + 1
    inversion = is_symmetry(-np.eye(3))
    mirrors = [m for m in mirror_cand if is_symmetry(reflection(m))]
    return _name(found, count, inversion, mirrors, is_symmetry)


def _name(found, count, inversion, mirrors, is_symmetry) -> PointGroupReport:  # noqa: ANN001
    n_mirror = len(mirrors)

    def report(name: str, order: int) -> PointGroupReport:
        return PointGroupReport(name, order, count, inversion, n_mirror)

    if count.get(5, 0) >= 2:
        return report("Ih", 120) if inversion else report("I", 60)
    if count.get(4, 0) >= 2:
        return report("Oh", 48) if inversion else report("O", 24)
    if count.get(3, 0) >= 2:
        if inversion:
            return report("Th", 24)
        return report("Td", 24) if n_mirror else report("T", 12)
    if not found:
        if inversion:
            return report("Ci", 2)
        return report("Cs", 2) if n_mirror else report("C1", 1)
    top = max(k for _, k in found)
    principal = [a for a, k in found if k == top]
    # D2 has three 2-fold axes: take as principal the one a mirror or S4 singles out
    if top == 2 and len(principal) > 1:
        for a in principal:
            if any(abs(float(a @ m)) > 1 - 1e-6 for m in mirrors) or is_symmetry(
                    rotation(a, math.pi / 2) @ reflection(a)):
                principal = [a]
                break
    z = principal[0]
    perp2 = sum(1 for a, k in found if k % 2 == 0 and abs(float(a @ z)) < 1e-6)
    sigma_h = any(abs(abs(float(m @ z)) - 1) < 1e-6 for m in mirrors)
    sigma_v = any(abs(float(m @ z)) < 1e-6 for m in mirrors)
    if perp2 >= top or (top == 2 and len([1 for _, k in found if k == 2]) >= 3):
        if sigma_h:
            return report(f"D{top}h", 4 * top)
        if sigma_v:
            return report(f"D{top}d", 4 * top)
        return report(f"D{top}", 2 * top)
    if sigma_h:
        return report(f"C{top}h", 2 * top)
    if sigma_v:
        return report(f"C{top}v", 2 * top)
    if is_symmetry(rotation(z, math.pi / top) @ reflection(z)):
        return report(f"S{2 * top}", 2 * top)
    return report(f"C{top}", top)
