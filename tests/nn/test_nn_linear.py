"""Angular linear layers against float64 per-sample references."""

from __future__ import annotations

import math

import pytest
import torch

from hypercli.nn import DecoupledLinear, SphereLinear
from hypercli.nn.conv import DECOUPLED_ANGLES, SPHERE_ANGLES
from hypercli.registry import LINEARS

D = torch.float64


def per_sample(layer, x):
    """cos θ and ||x|| for every (sample, row) by explicit loops, float64."""
    w = layer.weight.detach().to(D)
    cos = torch.empty(x.shape[0], w.shape[0], dtype=D)
    norm = torch.empty(x.shape[0], 1, dtype=D)
    for i in range(x.shape[0]):
        xn = math.sqrt(float(x[i].square().sum()) + 1e-4)
        norm[i] = xn
        for j in range(w.shape[0]):
            wn = math.sqrt(float(w[j].square().sum()) + 1e-4)
            cos[i, j] = float(w[j] @ x[i]) / (wn * xn)
    return cos, norm


@pytest.mark.parametrize("angle", SPHERE_ANGLES)
def test_sphere_linear(angle):
    torch.manual_seed(0)
    layer = SphereLinear(6, 4, bias=False, dtype=D, angle=angle)
    x = torch.randn(5, 6, dtype=D)
    cos, norm = per_sample(layer, x)
    theta = torch.acos(cos)
    k = 0.3 if angle == "sigmoid" else 0.7 + 0.05
    expected = {
        "cosine": cos,
        "linear": 1 - 2 * theta / math.pi,
        "none": cos * norm,
    }.get(angle)
    if expected is None:  # the paper's sigmoid, literally
        c = (1 + math.exp(-math.pi / (2 * k))) / (1 - math.exp(-math.pi / (2 * k)))
        e = torch.exp(theta / k - math.pi / (2 * k))
        expected = c * (1 - e) / (1 + e)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("magnitude", ["sphere", "ball", "tanh", "linear", "seg"])
@pytest.mark.parametrize("angle", DECOUPLED_ANGLES)
def test_decoupled_linear(magnitude, angle):
    torch.manual_seed(0)
    layer = DecoupledLinear(6, 4, bias=True, dtype=D, magnitude=magnitude, angle=angle)
    if layer.r is not None:
        with torch.no_grad():
            layer.r.copy_(torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=D))
    x = torch.randn(5, 6, dtype=D) * 2
    cos, norm = per_sample(layer, x)
    rho = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=D) ** 2 + 1e-4
    h = {"sphere": torch.ones_like(norm), "ball": torch.minimum(norm, rho) / rho,
         "tanh": rho * torch.tanh(norm / rho), "linear": norm,
         "seg": torch.where(norm < rho, norm, (norm + rho) / 2)}[magnitude]
    g = {"cosine": cos, "linear": 1 - 2 * torch.acos(cos) / math.pi,
         "sqcosine": torch.sign(cos) * cos**2}[angle]
    torch.testing.assert_close(layer(x), h * g + layer.bias.detach())


@pytest.mark.parametrize("name", LINEARS.names())
def test_every_linear_is_a_drop_in(name):
    torch.manual_seed(0)
    layer = LINEARS.get(name)(6, 3, bias=True, dtype=D)
    x = torch.randn(2, 4, 6, dtype=D, requires_grad=True)  # leading dims as nn.Linear
    assert layer(x).shape == (2, 4, 3)
    names = [n for n, _ in layer.named_parameters()]

    def f(x, *params):
        return torch.func.functional_call(layer, dict(zip(names, params, strict=True)), (x,))

    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, fast_mode=True)
    zero = torch.zeros(3, 6, requires_grad=True)
    layer32 = LINEARS.get(name)(6, 3)
    with torch.no_grad():
        layer32.weight.zero_()
    y = layer32(zero)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(zero.grad).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(layer32(torch.randn(3, 6) * 1e3)).all()
