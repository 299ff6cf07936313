"""Properties every registered attack must have: budgets, ranges, the model left as found."""

from __future__ import annotations

import pytest
import torch

from hypercli.attacks import attack_scale, create_attack, robustness
from hypercli.errors import HyperError
from hypercli.registry import ATTACKS
from tests.attacks.attack_fixtures import batch_fixture, model_fixture  # noqa: F401


def _norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.reshape(delta.shape[0], -1).double()
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


@pytest.mark.parametrize("name", ATTACKS.names())
@pytest.mark.parametrize("eps", [0.02, 0.3])
def test_perturbation_inside_ball_and_unit_cube(name: str, eps: float, model, batch) -> None:
    x, y = batch
    attack = ATTACKS.create(name, model=model, eps=eps)
    adv = attack(x, y)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert adv.min() >= 0 and adv.max() <= 1
    norms = _norm(adv - x, attack.norm)
    assert (norms <= eps * (1 + 1e-5)).all(), norms.max()
    assert norms.max() > 0.5 * eps  # and it uses its budget


@pytest.mark.parametrize("name", ATTACKS.names())
def test_zero_eps_changes_nothing(name: str, model, batch) -> None:
    x, y = batch
    attack = ATTACKS.create(name, model=model, eps=0.0)
    assert torch.equal(attack(x, y), x)
    result = robustness(model, x, y, attack, batch_size=10)
    assert 0 < result["clean_acc"] < 1  # random labels: some right, some wrong
    assert result["robust_acc"] == result["clean_acc"]
    assert result["success_rate"] == 0.0
    assert result["mean_l2"] == 0.0 and result["mean_linf"] == 0.0


@pytest.mark.parametrize("name", ATTACKS.names())
def test_model_left_as_found(name: str, model, batch) -> None:
    x, y = batch
    model.train()
    model[1].eval()  # a frozen BatchNorm inside a training model
    model[0].weight.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    ATTACKS.create(name, model=model, eps=0.1)(x, y)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():  # BatchNorm running stats untouched (eval mode)
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("name", ATTACKS.names())
def test_attack_runs_under_no_grad(name: str, model, batch) -> None:
    x, y = batch
    attack = ATTACKS.create(name, model=model, eps=0.1)
    torch.manual_seed(0)
    want = attack(x, y)
    torch.manual_seed(0)
    with torch.no_grad():
        assert torch.equal(attack(x, y), want)


@pytest.mark.parametrize("name", ATTACKS.names())
def test_per_sample_budgets_match_scalar_budgets(name: str, model, batch) -> None:
    x, y = batch
    budgets = [0.01, 0.05, 0.2]
    eps = torch.tensor(budgets).repeat_interleave(4)  # (12,)
    adv = ATTACKS.create(name, model=model, eps=eps, random_start=False)(x[:12], y[:12])
    for i, e in enumerate(budgets):
        part = slice(4 * i, 4 * i + 4)
        want = ATTACKS.create(name, model=model, eps=e, random_start=False)(x[part], y[part])
        torch.testing.assert_close(adv[part], want, atol=1e-6, rtol=0)


def test_targeted_attack_reaches_its_target_more_often(model, batch) -> None:
    x, _ = batch
    with torch.no_grad():
        pred = model(x).argmax(1)
    target = (pred + 1) % 10
    adv = ATTACKS.create("pgd", model=model, eps=0.3, steps=20, targeted=True)(x, target)
    with torch.no_grad():
        hit = (model(adv).argmax(1) == target).float().mean()
    assert hit > 0.9


def test_robustness_counts_against_a_manual_count(model, batch) -> None:
    x, y = batch
    attack = ATTACKS.create("fgsm", model=model, eps=0.05)
    result = robustness(model, x, y, attack, batch_size=7, return_adv=True)
    adv = result["x_adv"]
    with torch.no_grad():
        clean, attacked = model(x).argmax(1), model(adv).argmax(1)
    n_ok = sum(int(clean[i] == y[i]) for i in range(32))
    robust = sum(int(clean[i] == y[i] and attacked[i] == y[i]) for i in range(32))
    fooled = sum(int(clean[i] == y[i] and attacked[i] != y[i]) for i in range(32))
    assert result["clean_acc"] == n_ok / 32
    assert result["robust_acc"] == robust / 32
    assert result["success_rate"] == fooled / n_ok
    l2 = sum(float((adv[i] - x[i]).double().pow(2).sum().sqrt()) for i in range(32)) / 32
    assert result["mean_l2"] == pytest.approx(l2, rel=1e-5)
    assert result["mean_linf"] == pytest.approx(0.05, rel=1e-5)


def test_units_linf_in_255ths_l2_plain(model) -> None:
    assert attack_scale("fgsm") == attack_scale("bim") == attack_scale("pgd") == 1 / 255
    assert attack_scale("pgd-l2") == 1.0
    assert create_attack("bim", model, eps=8, alpha=2).eps == 8 / 255
    assert create_attack("bim", model, eps=8, alpha=2).alpha == 2 / 255
    assert create_attack("pgd-l2", model, eps=0.5).eps == 0.5


@pytest.mark.parametrize("kwargs, words", [
    ({"name": "pgd", "eps": -1.0}, "eps"),
    ({"name": "fgsm", "eps": 0.1, "steps": 5}, "step"),
    ({"name": "fgsm", "eps": 0.1, "alpha": 0.01}, "alpha"),
    ({"name": "bim", "eps": 0.1, "random_start": True}, "random start"),
    ({"name": "bim", "eps": 0.1, "steps": 0}, "steps"),
    ({"name": "cw", "eps": 0.1}, "unknown attack"),
    ({"name": "pgd", "eps": 0.1, "momentum": 0.9}, "momentum"),
])
def test_bad_arguments_are_user_errors(kwargs: dict, words: str, model) -> None:
    name = kwargs.pop("name")
    with pytest.raises(HyperError, match=words):
        ATTACKS.create(name, model=model, **kwargs)
