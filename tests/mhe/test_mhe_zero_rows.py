"""Zero filters keep the hyperspherical energy and its gradient finite for every eps >= 0."""

from __future__ import annotations

import math

import pytest
import torch

from hypercli.errors import HyperError
from hypercli.mhe.energy import hyperspherical_energy
from hypercli.registry import REGULARIZERS


@pytest.mark.parametrize("s", ["0", "1", "2", "a0", "a1", "a2"])
@pytest.mark.parametrize("half_space", [False, True])
@pytest.mark.parametrize("eps", [0.0, 1e-12, 1e-4])
def test_zero_rows_give_finite_energy_and_gradient(s, half_space, eps):
    w = torch.randn(6, 3, 3, 3, dtype=torch.float64)
    w[1] = 0.0
    w[4] = 0.0
    w.requires_grad_(True)
    e = hyperspherical_energy(w, s=s, half_space=half_space, eps=eps)
    e.backward()
    assert math.isfinite(float(e.detach()))
    assert bool(torch.isfinite(w.grad).all())


def test_zero_row_at_eps_0_is_the_zero_vector():
    """W = [e1, 0, 2 (e1 + e2)]: cosines 0, cos 45°, 0 with f_1(G) = (2 - 2G)^(-1/2)
    (Eq. 1 on unit vectors; the zero row's cosine with anything is 0)."""
    w = torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    e = hyperspherical_energy(w, s="1", eps=0.0)
    f = [(2 - 2 * g) ** -0.5 for g in (0.0, math.cos(math.pi / 4), 0.0)]
    assert float(e) == pytest.approx(sum(f) / 3, rel=1e-12)


@pytest.mark.parametrize("eps", [-1e-4, math.nan, math.inf])
def test_eps_outside_the_accepted_range_is_refused(eps):
    with pytest.raises(HyperError, match="eps"):
        hyperspherical_energy(torch.randn(4, 3), s="1", eps=eps)
    with pytest.raises(HyperError, match="eps"):
        REGULARIZERS.create("mhe", eps=eps)
