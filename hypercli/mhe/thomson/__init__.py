"""The Thomson problem and its generalizations: N points on S^(d-1) of minimal pair energy.

``solve`` is the entry point (``hyper mhe-solve``). The pieces, one file each:
``pair_energy`` (the O(N²) float64 energy and tangent gradient), ``lbfgs`` (batched
Riemannian L-BFGS), ``moves`` (starts and moves), ``genetic`` (cut-and-splice search),
``groups`` and ``orbits`` (point groups and their orbit-constrained energy),
``portfolio`` (the search over many point groups, lifted and polished), ``minima`` (distinct
minima), ``symmetry`` (point-group detection), ``census`` (Voronoi defects on S²),
``published`` (the table of published minima).

    >>> r = solve(12, 3)          # the icosahedron
    >>> round(r.energy, 9), r.hits
    (49.165253058, 20)
"""

from hypercli.mhe.thomson.moves import _mutant, _random_points
from hypercli.mhe.thomson.solve import ThomsonResult, min_angle, solve

__all__ = ["ThomsonResult", "_mutant", "_random_points", "min_angle", "solve"]
