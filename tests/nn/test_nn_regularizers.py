"""Orthogonality and weight projection against explicit loops; every regularizer attaches."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.nn import Orthogonality, SphereConv2d, SphereLinear, WeightProjection
from hypercli.registry import REGULARIZERS


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(SphereConv2d(3, 4, 3, padding=1, bias=False), nn.ReLU(),
                         nn.Conv2d(4, 5, 3), nn.Flatten(), SphereLinear(5 * 4 * 4, 6))


def half_frobenius_loop(w: torch.Tensor, normalized: bool) -> float:
    rows = [w[i].reshape(-1).double() for i in range(w.shape[0])]
    if normalized:
        rows = [r / math.sqrt(float(r @ r) + 1e-4) for r in rows]
    total = 0.0
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            total += (float(a @ b) - (1.0 if i == j else 0.0)) ** 2
    return 0.5 * total


@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("layers", ["angular", "conv", "all"])
def test_orthogonality_is_half_squared_frobenius(normalized, layers):
    model = small_model()
    reg = Orthogonality(weight=2e-4, normalized=normalized, layers=layers)
    reg.attach(model)
    chosen = {"angular": [model[0], model[4]], "conv": [model[0], model[2]],
              "all": [model[0], model[2], model[4]]}[layers]
    expected = 2e-4 * sum(half_frobenius_loop(m.weight.detach(), normalized) for m in chosen)
    term, logs = reg.loss()
    assert math.isclose(float(term.detach()), expected, rel_tol=1e-5)
    assert math.isclose(logs["orthogonality"], expected, rel_tol=1e-5)
    term.backward()
    assert all(m.weight.grad is not None for m in chosen)


def test_orthogonality_is_zero_for_orthonormal_filters():
    conv = nn.Conv2d(2, 4, 3, bias=False)
    q, _ = torch.linalg.qr(torch.randn(18, 4))
    with torch.no_grad():
        conv.weight.copy_(q.t().reshape(4, 2, 3, 3))
    reg = Orthogonality(layers="conv")
    reg.attach(nn.Sequential(conv))
    assert float(reg.loss()[0]) < 1e-10


def test_weight_projection_every_n_steps():
    model = small_model()
    proj = WeightProjection(every=3)
    proj.attach(model)
    before = model[0].weight.detach().clone()
    plain = model[2].weight.detach().clone()
    x = torch.rand(2, 3, 6, 6)
    out = model(x)
    for step in (1, 2):
        proj.after_step(step)
    assert torch.equal(model[0].weight, before)
    proj.after_step(3)
    w = model[0].weight.detach()
    expected = before / (before.square().flatten(1).sum(1) + 1e-4).sqrt().view(-1, 1, 1, 1)
    torch.testing.assert_close(w, expected)
    assert torch.equal(model[2].weight, plain)  # plain convs untouched by default
    torch.testing.assert_close(model(x), out, atol=2e-3, rtol=0)  # scale-invariant (but 1e-4)


def test_no_angular_layer_is_a_clear_error():
    with pytest.raises(HyperError, match="no angular layers"):
        Orthogonality().attach(nn.Sequential(nn.Conv2d(1, 2, 3)))
    with pytest.raises(HyperError, match="unknown layers"):
        WeightProjection(layers="convs").attach(small_model())


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_every_regularizer_attaches_and_steps(name):
    model = small_model()
    reg = REGULARIZERS.create(name)
    reg.attach(model)
    term, logs = reg.loss()
    assert all(isinstance(v, float) and math.isfinite(v) for v in logs.values())
    if term is not None:
        assert torch.isfinite(term)
        term.backward()
    reg.after_step(1)
    assert all(torch.isfinite(p).all() for p in model.parameters())
