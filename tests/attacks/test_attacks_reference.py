"""Every registered attack against torchattacks 3.5.1, element for element."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchattacks

from hypercli.registry import ATTACKS
from tests.attacks.attack_fixtures import batch_fixture, model_fixture  # noqa: F401

# name -> (our keyword arguments, torchattacks constructor taking the same keywords)
REFERENCE: dict[str, list[tuple[dict, Callable]]] = {
    "fgsm": [({"eps": 8 / 255}, torchattacks.FGSM), ({"eps": 0.3}, torchattacks.FGSM)],
    "bim": [
        ({"eps": 8 / 255, "alpha": 2 / 255, "steps": 10}, torchattacks.BIM),
        ({"eps": 0.1, "alpha": 0.05, "steps": 7}, torchattacks.BIM),  # alpha > eps / 2
    ],
    "pgd": [
        ({"eps": 8 / 255, "alpha": 2 / 255, "steps": 10, "random_start": True},
         torchattacks.PGD),
        ({"eps": 0.1, "alpha": 0.01, "steps": 5, "random_start": False}, torchattacks.PGD),
    ],
    "pgd-l2": [
        ({"eps": 1.0, "alpha": 0.2, "steps": 10, "random_start": True}, torchattacks.PGDL2),
        ({"eps": 0.5, "alpha": 0.3, "steps": 4, "random_start": False}, torchattacks.PGDL2),
    ],
}


def test_every_attack_has_a_reference() -> None:
    assert sorted(REFERENCE) == ATTACKS.names()


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_same_images_as_torchattacks(name: str, targeted: bool, model, batch) -> None:
    x, y = batch
    labels = (y + 3) % 10 if targeted else y
    for kwargs, ref_cls in REFERENCE[name]:
        ours = ATTACKS.create(name, model=model, targeted=targeted, **kwargs)
        ref = ref_cls(model, **kwargs)
        if targeted:
            ref.set_mode_targeted_by_label(quiet=True)
        torch.manual_seed(123)
        got = ours(x, labels)
        torch.manual_seed(123)
        want = ref(x, labels)
        assert torch.equal(got, want), (name, kwargs, (got - want).abs().max())
        assert not torch.equal(got, x)  # the attack did something


@pytest.mark.parametrize("name", ["pgd", "pgd-l2"])
def test_random_start_depends_on_the_seed(name: str, model, batch) -> None:
    x, y = batch
    attack = ATTACKS.create(name, model=model, eps=0.1, alpha=0.01, steps=1)
    torch.manual_seed(0)
    first = attack(x, y)
    torch.manual_seed(0)
    assert torch.equal(attack(x, y), first)
    torch.manual_seed(1)
    assert not torch.equal(attack(x, y), first)


def test_train_mode_model_is_attacked_in_eval_mode_like_torchattacks(model, batch) -> None:
    x, y = batch
    model.train()
    got = ATTACKS.create("bim", model=model, eps=0.05, alpha=0.01, steps=3)(x, y)
    want = torchattacks.BIM(model, eps=0.05, alpha=0.01, steps=3)(x, y)
    assert torch.equal(got, want)
