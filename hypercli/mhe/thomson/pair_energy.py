"""Total pair energy of (B, N, d) unit configurations and its tangent gradient, in float64.

E(x) = Σ_{i<j} f(<x_i, x_j>) for the MHE pair energies of ``hypercli.mhe.kernels``; the
direct O(N²) sum (one Gram matrix per configuration), which is right at these sizes:
cutoffs are invalid for s <= d - 1 and fast multipole methods pay only beyond ~10⁴ points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hypercli.mhe.kernels import Kernel

EnergyGrad = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def energy_fn(kernel: Kernel, half_space: bool, scale: float) -> EnergyGrad:
    """u (B, N, d) unit -> (total energy (B,), tangent gradient (B, N, d))."""
    fast = not kernel.angular and kernel.power == 1 and not half_space

    def fg(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, _ = u.shape
        if fast:  # Coulomb: r² = 2 - 2G in one baddbmm, then in-place rsqrt and cube
            r2 = torch.baddbmm(u.new_full((1, 1, 1), 2.0).expand(b, n, n), u, u.transpose(1, 2),
                               alpha=-2.0)
            r2.diagonal(dim1=1, dim2=2).fill_(1.0)
            inv = r2.rsqrt_()  # (B, N, N) 1/r, diagonal 1
            energy = (inv.sum((1, 2)) - n) * 0.5
            deriv = inv.pow_(3)  # dE/dG = r⁻³; the diagonal only adds a radial term
        else:
            g = torch.bmm(u, u.transpose(1, 2))  # (B, N, N) cosines
            g.diagonal(dim1=1, dim2=2).fill_(0.0)
            value, deriv = kernel.value_and_deriv(g)
            if half_space:  # [X, -X]: pairs give 2 f(G) + 2 f(-G), plus N f(-1)
                value_n, deriv_n = kernel.value_and_deriv(-g)
                value = value + value_n
                deriv = 2.0 * (deriv - deriv_n)
            value.diagonal(dim1=1, dim2=2).fill_(0.0)
            energy = value.sum((1, 2)) * (1.0 if half_space else 0.5)
            if half_space:
                minus_one = kernel.value(u.new_full((1,), -1.0))
                energy = energy + n * minus_one
        grad = torch.bmm(deriv, u)  # Σ_j f'(G_ij) x_j
        grad = grad - (grad * u).sum(-1, keepdim=True) * u  # tangent part
        return energy * scale, grad * scale

    return fg




def configuration_energy(points, s: str | int | float = "1",  # noqa: ANN001  (array (N, d))
                         half_space: bool = False) -> tuple[float, np.ndarray]:
    """The energy of one configuration in the published convention, and its tangent gradient.

    ``points`` (N, d) are normalized first. Returns (Σ_{i<j} f, (N, d) float64 array): for
    s = 0 the log energy Σ log 1/r, for s > 0 Σ r^(-s), angular forms as in
    ``hypercli.mhe.kernels``; with ``half_space`` the 2N points [X, -X].
    """
    from hypercli.mhe.kernels import parse_kernel

    kernel = parse_kernel(s)
    x = torch.as_tensor(np.asarray(points, dtype=np.float64))
    x = x / x.norm(dim=-1, keepdim=True)
    scale = 0.5 if (kernel.power == 0 and not kernel.angular) else 1.0
    with torch.no_grad():
        e, g = energy_fn(kernel, half_space, scale)(x[None])
    return float(e[0]), g[0].numpy()
