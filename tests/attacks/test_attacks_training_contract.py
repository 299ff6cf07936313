"""The keyword contract adversarial training relies on: ATTACKS.create(method, model=, eps=,
alpha=, steps=, random_start=), with the engine's unit conversion."""

from __future__ import annotations

import pytest
import torch

from hypercli.engine.trainer import build_adversary
from hypercli.recipe import load_recipe
from hypercli.registry import ATTACKS
from tests.attacks.attack_fixtures import batch_fixture, model_fixture  # noqa: F401


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_attack_takes_the_training_keywords(name: str, model, batch) -> None:
    x, y = batch
    steps = 1 if name == "fgsm" else 3
    attack = ATTACKS.create(name, model=model, eps=0.1, alpha=None, steps=steps,
                            random_start=None)
    assert attack(x, y).shape == x.shape


@pytest.mark.parametrize("method, eps, want", [("fgsm", 8, 8 / 255), ("pgd", 4, 4 / 255),
                                               ("pgd-l2", 0.5, 0.5)])
def test_recipe_budgets_reach_the_attack_in_pixel_units(method, eps, want, model) -> None:
    recipe = load_recipe("fmnist-robust-adv", [f"train.adversarial.method={method}",
                                               f"train.adversarial.eps={eps}"])
    attack = build_adversary(recipe, model)
    assert isinstance(attack, ATTACKS.get(method))
    assert attack.eps == pytest.approx(want)
    model.train()
    x = torch.rand(4, 1, 12, 12)
    attack(x, torch.zeros(4, dtype=torch.long))
    assert model.training  # training continues in train mode after the attack
