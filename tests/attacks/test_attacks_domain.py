"""Inputs outside [0, 1] are refused, budgets must be finite, and the median is the median."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hypercli.attacks import BIM, FGSM, PGD, PGDL2, min_norm, robustness
from hypercli.checks import median
from hypercli.errors import HyperError
from tests.attacks.attack_fixtures import small_cnn


class Linear2(nn.Module):
    """logits (z, -z) with z = sum(x - 1/2): the class flips once every pixel drops by
    z / D, so the minimal L-inf norm of an image of constant value 1/2 + c is exactly c."""

    def forward(self, x):
        z = (x - 0.5).flatten(1).sum(1)
        return torch.stack([z, -z], dim=1)


def _constant_images(cs):
    return torch.stack([torch.full((1, 2, 2), 0.5 + c) for c in cs]), torch.zeros(len(cs),
                                                                                  dtype=torch.long)


def test_min_norm_median_is_the_mean_of_the_two_middle_values():
    x, y = _constant_images([0.015, 0.025, 0.035, 0.045])  # exact minimal L-inf norms
    r = min_norm(Linear2(), x, y, norm="linf", steps=10, search_steps=24)
    assert r["n"] == 4 and r["unflipped"] == 0
    assert r["median"] == pytest.approx(0.030, abs=1e-5)  # torch.median would give 0.025
    assert r["mean"] == pytest.approx(0.030, abs=1e-5)
    norms = min_norm(Linear2(), x, y, norm="linf", steps=10, search_steps=24,
                     return_norms=True)["norms"]
    assert norms == pytest.approx([0.015, 0.025, 0.035, 0.045], abs=1e-5)
    odd = min_norm(Linear2(), x[:3], y[:3], norm="linf", steps=10, search_steps=24)
    assert odd["median"] == pytest.approx(0.025, abs=1e-5)


def test_robustness_min_norm_uses_the_true_median():
    x, y = _constant_images([0.015, 0.025, 0.035, 0.045])
    model = Linear2()
    r = robustness(model, x, y, FGSM(model, eps=0.001), min_norm="linf")
    assert r["min_norm"]["median"] == pytest.approx(0.030, abs=1e-3)


def test_median_helper_against_the_definition():
    assert median(torch.tensor([3.0, 1.0, 2.0])) == 2.0
    assert median(torch.tensor([4.0, 1.0, 3.0, 2.0])) == 2.5
    assert median(torch.tensor([1.0, math.inf])) == math.inf  # a never-flipped sample
    assert math.isnan(median(torch.tensor([])))


@pytest.mark.parametrize("scale, shift, lo, hi", [(255.0, 0.0, "0", "255"),
                                                 (1 / 0.25, -2.0, "-2", "2")])
def test_attacks_refuse_images_outside_the_unit_interval(scale, shift, lo, hi):
    model = small_cnn()
    x = torch.linspace(0, 1, 4 * 144).reshape(4, 1, 12, 12)  # exactly 0 .. 1
    y = torch.zeros(4, dtype=torch.long)
    bad = x * scale + shift  # 0..255 images, or mean/std-normalized ones
    for attack in (FGSM(model, eps=8 / 255), BIM(model, eps=8 / 255), PGD(model, eps=8 / 255),
                   PGDL2(model, eps=1.0)):
        with pytest.raises(HyperError, match=rf"\[0, 1\].*min {lo}, max {hi}$"):
            attack(bad, y)
        assert attack(x, y).shape == x.shape  # the same images in [0, 1] pass
    with pytest.raises(HyperError, match=f"max {hi}"):
        robustness(model, bad, y, FGSM(model, eps=8 / 255))
    with pytest.raises(HyperError, match=f"max {hi}"):
        min_norm(model, bad, y)


def test_round_off_outside_the_interval_is_tolerated():
    model = small_cnn()
    x = torch.rand(2, 1, 12, 12)
    x[0, 0, 0, 0], x[1, 0, 0, 0] = -1e-7, 1 + 1e-7
    FGSM(model, eps=8 / 255)(x, torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("eps", [math.inf, math.nan, -1.0])
def test_budgets_must_be_finite_and_non_negative(eps):
    model = small_cnn()
    for cls in (FGSM, BIM, PGD, PGDL2):
        with pytest.raises(HyperError, match="eps must be finite"):
            cls(model, eps=eps)
    with pytest.raises(HyperError, match="alpha must be finite"):
        BIM(model, eps=0.1, alpha=math.inf)


def test_robustness_refuses_a_model_with_nan_logits():
    model = small_cnn()
    with torch.no_grad():
        model[-1].weight[3, 0] = float("nan")
    x, y = torch.rand(4, 1, 12, 12), torch.zeros(4, dtype=torch.long)
    with pytest.raises(HyperError, match="logits holds NaN or inf in rows 0, 1, 2, 3"):
        robustness(model, x, y, FGSM(model, eps=8 / 255))
    with pytest.raises(HyperError, match="logits holds NaN"):
        min_norm(model, x, y)
