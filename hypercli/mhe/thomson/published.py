"""Published putative minima of the Thomson problem (d = 3, s = 1, Σ_{i<j} 1/r_ij).

``data/thomson_s1.csv`` ships with the package: N = 2..40 as in shared/data/thomson_s1.csv
(the project's reference table), N = 41..100, 200 and 470 from the table of the Wikipedia
article "Thomson problem" (putative global minima to 9 decimals, after Wales & Ulker,
Phys. Rev. B 74, 212101, 2006, and Wales, McKay & Altschuler, Phys. Rev. B 79, 224115,
2009). N = 972 and the other large N are not in it; for them the report gives no gap.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


@cache
def published_table() -> dict[int, float]:
    """N -> the published minimal Coulomb energy on S²."""
    text = resources.files("hypercli.mhe.thomson").joinpath("data/thomson_s1.csv").read_text()
    return {int(r["N"]): float(r["energy"]) for r in csv.DictReader(text.splitlines())}


def published_energy(n: int, dim: int = 3, s: str = "1", half_space: bool = False) -> float | None:
    """The published minimum for (N, d, s), or None when the table has none."""
    if dim != 3 or s != "1" or half_space:
        return None
    return published_table().get(n)
