"""The adversarial losses against their closed forms, element by element in float64."""

from __future__ import annotations

import math

import pytest
import torch

from hypercli.registry import GAN_LOSSES

D_REAL = [-2.0, -0.5, 0.3, 1.0, 1.5, 4.0]
D_FAKE = [-3.0, -1.0, -0.2, 0.4, 2.0]  # another batch size: the two means are separate


def _mean(values):
    return sum(values) / len(values)


def _softplus(t):
    return math.log1p(math.exp(-abs(t))) + max(t, 0.0)


def _t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_hinge_loss():
    loss = GAN_LOSSES.create("hinge")
    d = _mean([max(0.0, 1.0 - v) for v in D_REAL]) + _mean([max(0.0, 1.0 + v) for v in D_FAKE])
    assert float(loss.discriminator(_t(D_REAL), _t(D_FAKE))) == pytest.approx(d, abs=1e-12)
    assert d == pytest.approx((3 + 1.5 + 0.7) / 6 + (0.8 + 1.4 + 3) / 5)  # by hand
    assert float(loss.generator(_t(D_FAKE))) == pytest.approx(-_mean(D_FAKE), abs=1e-12)


def test_non_saturating_loss():
    loss = GAN_LOSSES.create("nonsaturating")
    sigmoid = [1 / (1 + math.exp(-v)) for v in D_REAL]
    sigmoid_fake = [1 / (1 + math.exp(-v)) for v in D_FAKE]
    # -E[log D(x)] - E[log(1 - D(G(z)))], D = sigmoid of the logit
    d = -_mean([math.log(p) for p in sigmoid]) - _mean([math.log(1 - p) for p in sigmoid_fake])
    assert float(loss.discriminator(_t(D_REAL), _t(D_FAKE))) == pytest.approx(d, abs=1e-12)
    g = -_mean([math.log(p) for p in sigmoid_fake])  # -E[log D(G(z))]
    assert float(loss.generator(_t(D_FAKE))) == pytest.approx(g, abs=1e-12)
    assert g == pytest.approx(_mean([_softplus(-v) for v in D_FAKE]), abs=1e-12)


def test_hinge_gradients_vanish_beyond_the_margin():
    loss = GAN_LOSSES.create("hinge")
    real, fake = _t([0.5, 2.0]).requires_grad_(), _t([-2.0, -0.5]).requires_grad_()
    loss.discriminator(real, fake).backward()
    assert real.grad.tolist() == [-0.5, 0.0] and fake.grad.tolist() == [0.0, 0.5]


def test_an_unknown_loss_names_the_known_ones():
    from hypercli.errors import HyperError

    with pytest.raises(HyperError, match="hinge, nonsaturating"):
        GAN_LOSSES.get("wasserstein")
