"""Minimal perturbation norms: the reported norm flips the prediction, 0.9x of it does not."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hypercli.attacks import BIM, PGDL2, min_norm, min_norm_batch
from tests.attacks.attack_fixtures import batch_fixture, model_fixture  # noqa: F401


def _flips(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str,
           eps: torch.Tensor) -> torch.Tensor:
    attack = BIM(model, eps=eps) if norm == "linf" else PGDL2(model, eps=eps,
                                                               random_start=False)
    with torch.no_grad():
        return model(attack(x, y)).argmax(1) != y


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_flips_at_reported_norm_not_at_090(norm: str, model, batch) -> None:
    x = batch[0][:16]
    with torch.no_grad():
        y = model(x).argmax(1)  # every sample clean-correct
    norms, adv = min_norm_batch(model, x, y, norm=norm, search_steps=7)
    assert torch.isfinite(norms).all()
    with torch.no_grad():  # the returned images flip, at exactly the reported norms
        assert (model(adv).argmax(1) != y).all()
    delta = (adv - x).reshape(16, -1).double()
    measured = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    torch.testing.assert_close(measured.float(), norms, rtol=1e-5, atol=1e-7)
    # no attack with a budget of 0.9x the reported norm flips any sample
    assert not _flips(model, x, y, norm, 0.9 * norms).any()


def test_linear_model_min_linf_is_the_closed_form_margin() -> None:
    # two-class linear model: logit gap g(x) = w.x + b; the L-inf distance to the boundary
    # is |g(x)| / ||w||_1 (dual norm), reached by a signed step, away from the box faces
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).double()
    nn.init.zeros_(model[1].bias)
    x = (0.3 + 0.4 * torch.rand(20, 1, 4, 4)).double()
    with torch.no_grad():
        y = model(x).argmax(1)
        w = model[1].weight[1] - model[1].weight[0]
        gap = (model(x)[:, 1] - model(x)[:, 0]).abs()
    want = gap / w.abs().sum()
    keep = want < 0.29  # stays inside [0, 1] from pixels in [0.3, 0.7]
    got, _ = min_norm_batch(model, x[keep], y[keep], norm="linf", steps=10, search_steps=14)
    assert keep.sum() >= 5
    torch.testing.assert_close(got, want[keep], rtol=2e-3, atol=0)


def test_summary_over_clean_correct_samples(model, batch) -> None:
    x, y = batch[0][:20], batch[1][:20]
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    result = min_norm(model, x, y, norm="linf", batch_size=7, search_steps=5)
    assert result["n"] == int(correct.sum())
    norms, _ = min_norm_batch(model, x[correct], y[correct], norm="linf", search_steps=5)
    assert result["median"] == pytest.approx(float(norms.median()), rel=1e-6)
    assert result["mean"] == pytest.approx(float(norms.mean()), rel=1e-6)
    assert result["unflipped"] == 0


def test_unflippable_samples_count_as_infinite() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([1.0, 0.0]))  # always class 0
    x, y = torch.rand(3, 1, 2, 2), torch.zeros(3, dtype=torch.long)
    result = min_norm(model, x, y, norm="l2")
    assert result["unflipped"] == 3 and result["median"] == math.inf
    assert math.isnan(result["mean"])
