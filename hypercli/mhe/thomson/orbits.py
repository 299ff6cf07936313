"""The pair energy of a G-invariant configuration from its orbit representatives, O(N²/|G|).

A configuration invariant under a point group G is k general orbits {g x_r : g ∈ G} plus
fixed special points S (axis orbits, ``groups.decompositions``). Every point of an orbit
sees the same neighbourhood, so with the k representative rows of the Gram matrix,
R = Σ_r Σ_{j ≠ r} f(<x_r, x_j>) over all N points j:

    E = E(S) + |G|/2 (R + Σ_r Σ_{j∈S} f(<x_r, x_j>)),   ∂E/∂x_r = |G| Σ_{j≠r} f'(<x_r, x_j>) x_j

(the force on each image is the rotated force on its representative). One energy costs
k N = N²/|G| pair terms instead of N²/2, and the search has k free points, not N
(the symmetry-constrained searches of Oakley, Johnston & Wales, PCCP 15, 3965, 2013).
"""

from __future__ import annotations

import numpy as np
import torch

from hypercli.mhe.kernels import Kernel
from hypercli.mhe.thomson.groups import PointGroup
from hypercli.mhe.thomson.pair_energy import EnergyGrad


def special_points(group: PointGroup, combo: tuple[int, ...]) -> np.ndarray:
    """(m, 3) the chosen special orbits of ``group``, stacked."""
    if not combo:
        return np.zeros((0, 3))
    return np.concatenate([group.special[i] for i in combo])


def lift(reps: torch.Tensor, group: PointGroup, special: np.ndarray) -> torch.Tensor:
    """(B, k, 3) representatives -> (B, k |G| + m, 3): the orbits (representatives first),
    then the special points."""
    mats = torch.as_tensor(group.matrices, dtype=reps.dtype, device=reps.device)
    b, k, _ = reps.shape
    orbit = torch.einsum("gab,nkb->ngka", mats, reps).reshape(b, -1, 3)
    if len(special) == 0:
        return orbit
    fixed = torch.as_tensor(special, dtype=reps.dtype, device=reps.device)
    return torch.cat([orbit, fixed.expand(b, -1, -1)], dim=1)


def orbit_energy_fn(kernel: Kernel, group: PointGroup, special: np.ndarray,
                    scale: float) -> EnergyGrad:
    """reps (B, k, 3) unit -> (total energy of the lifted N points (B,), ∂E/∂reps tangent)."""
    order = group.order
    m = len(special)
    fixed = torch.as_tensor(special, dtype=torch.float64)
    if m > 1:  # E(S): the special points' own pairs, a constant
        g = fixed @ fixed.T
        iu = torch.triu_indices(m, m, 1)
        e_fixed = float(kernel.value(g[iu[0], iu[1]]).sum())
    else:
        e_fixed = 0.0
    fast = not kernel.angular and kernel.power == 1

    def fg(reps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k, _ = reps.shape
        x = lift(reps, group, special)  # (B, N, 3)
        gram = torch.bmm(reps, x.transpose(1, 2))  # (B, k, N); column r is the self pair
        diag = gram.diagonal(dim1=1, dim2=2)  # (B, k): the first k columns' diagonal
        if fast:
            r2 = torch.add(gram, -1.0).mul_(-2.0)  # 2 - 2G
            r2.diagonal(dim1=1, dim2=2).fill_(1.0)
            value = r2.rsqrt_()
            value.diagonal(dim1=1, dim2=2).fill_(0.0)
            deriv = value.pow(3)
        else:
            diag.fill_(0.0)
            value, deriv = kernel.value_and_deriv(gram)
            value.diagonal(dim1=1, dim2=2).fill_(0.0)
            deriv.diagonal(dim1=1, dim2=2).fill_(0.0)
        rows = value.sum((1, 2))
        if m:
            rows = rows + value[:, :, -m:].sum((1, 2))
        energy = e_fixed + 0.5 * order * rows
        grad = torch.bmm(deriv, x) * order
        grad = grad - (grad * reps).sum(-1, keepdim=True) * reps
        return energy * scale, grad * scale

    return fg
