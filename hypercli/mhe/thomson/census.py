"""The defect census of a configuration on S²: coordination numbers and scars.

The neighbours of a point are those of its Voronoi cell, i.e. of the Delaunay
triangulation, which for points on the sphere is the convex hull
(scipy.spatial.ConvexHull). A point with c neighbours carries the topological charge
q = 6 - c, and the charges sum to 12 (Euler). Defects (c ≠ 6) that touch form clusters;
a cluster of more than one defect is a scar (a grain-boundary chain of alternating 5s
and 7s, Bowick, Nelson & Travesset, Phys. Rev. B 62, 8738, 2000), a lone 5 an isolated
disclination.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class DefectCensus:
    coordination: dict[int, int]  # c -> number of points with c neighbours
    charge: int  # Σ (6 - c): 12 on S²
    isolated: int  # defects with no defect neighbour
    scars: int  # clusters of two or more defects
    scar_sizes: list[int] = field(default_factory=list)
    scar_charges: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"coordination": {str(k): v for k, v in sorted(self.coordination.items())},
                "charge": self.charge, "isolated": self.isolated, "scars": self.scars,
                "scar_sizes": self.scar_sizes, "scar_charges": self.scar_charges}


def neighbours(points: np.ndarray) -> list[set[int]]:
    """The Delaunay neighbours of each of the (N, 3) unit vectors (N >= 4)."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(np.asarray(points, dtype=np.float64))
    nb: list[set[int]] = [set() for _ in range(len(points))]
    for a, b, c in hull.simplices:
        nb[a] |= {b, c}
        nb[b] |= {a, c}
        nb[c] |= {a, b}
    return nb


def coordination_numbers(points: np.ndarray) -> np.ndarray:
    """(N,) the number of Voronoi neighbours of each point."""
    return np.array([len(s) for s in neighbours(points)])


def defect_census(points: np.ndarray) -> DefectCensus:
    """Coordination counts, total charge, isolated defects and scars of (N, 3) points."""
    nb = neighbours(points)
    coord = np.array([len(s) for s in nb])
    defects = {i for i, c in enumerate(coord) if c != 6}
    seen: set[int] = set()
    clusters: list[list[int]] = []
    for i in sorted(defects):
        if i in seen:
            continue
        stack, comp = [i], []
        seen.add(i)
        while stack:
            j = stack.pop()
            comp.append(j)
            for k in nb[j]:
                if k in defects and k not in seen:
                    seen.add(k)
                    stack.append(k)
        clusters.append(comp)
    scars = [c for c in clusters if len(c) > 1]
    return DefectCensus(
        coordination=dict(sorted(Counter(coord.tolist()).items())),
        charge=int((6 - coord).sum()),
        isolated=sum(1 for c in clusters if len(c) == 1),
        scars=len(scars),
        scar_sizes=sorted((len(c) for c in scars), reverse=True),
        scar_charges=[int(sum(6 - coord[j] for j in c)) for c in
                      sorted(scars, key=len, reverse=True)],
    )
