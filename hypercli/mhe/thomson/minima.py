"""Distinct local minima: equal energy (1e-9 relative) and equal fingerprint.

The fingerprint of a configuration is its sorted per-point Coulomb potentials
(``moves.point_energies``): invariant under rotations, reflections and relabelling, so two
descents that end in the same minimum, however turned, share it, while two minima of
nearly equal energy (common at large N, where the gaps fall below 1e-6 relative) differ.
"""

from __future__ import annotations

import torch

from hypercli.mhe.thomson.moves import point_energies


class MinimaRegistry:
    """The distinct minima seen so far, by energy and fingerprint."""

    def __init__(self, energy_rtol: float = 1e-9, print_atol: float = 1e-6) -> None:
        self.energy_rtol = energy_rtol
        self.print_atol = print_atol
        self._seen: list[tuple[float, torch.Tensor]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, energy: float, points: torch.Tensor) -> bool:
        """Record a minimum (N, d); True when it was not seen before."""
        fp = point_energies(points.double().cpu()).sort().values
        tol = self.energy_rtol * max(abs(energy), 1.0)
        for e, other in self._seen:
            if abs(e - energy) <= tol and float((other - fp).abs().max()) <= self.print_atol * (
                    1.0 + float(fp.abs().max())):
                return False
        self._seen.append((energy, fp))
        return True


def distinct_lowest(f: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices (long) of the ``keep`` lowest entries of ``f`` with distinct values (1e-9
    relative: the same minimum reached twice counts once), lowest first."""
    chosen: list[int] = []
    last = None
    for i in f.argsort().tolist():
        e = float(f[i])
        if last is not None and abs(e - last) <= 1e-9 * max(abs(e), 1.0):
            continue
        chosen.append(i)
        last = e
        if len(chosen) == keep:
            break
    return torch.tensor(chosen, dtype=torch.long)
