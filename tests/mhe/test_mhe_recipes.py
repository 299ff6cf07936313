"""The MHE recipes load, build their model and regularizer, and give a finite term."""

from __future__ import annotations

import math

import pytest
import torch

from hypercli.models import create_model
from hypercli.recipe import list_recipes, load_recipe
from hypercli.registry import REGULARIZERS

MINE = [r for r in list_recipes()
        if r.startswith(("fmnist-mhe", "fmnist-imbalance", "cifar100-mhe", "sphereface-plus"))]


def test_the_recipes_exist():
    assert {"cifar100-mhe.yaml", "fmnist-mhe.yaml", "fmnist-mhe-half.yaml",
            "fmnist-imbalance-single.yaml", "fmnist-imbalance-single-mhe.yaml",
            "fmnist-imbalance-multiple.yaml", "fmnist-imbalance-multiple-mhe.yaml",
            "sphereface-plus.yaml"} <= set(MINE)


@pytest.mark.parametrize("name", MINE)
def test_recipe_builds(name):
    torch.set_num_threads(1)
    recipe = load_recipe(name)
    shape = (100, 3, 32) if recipe.data.name == "cifar100" else (10, 1, 28)
    model = create_model(recipe, *shape)
    for cfg in recipe.regularizers:
        reg = REGULARIZERS.create(cfg.name, **cfg.args)
        reg.attach(model)
        term, logs = reg.loss()
        assert term is not None and math.isfinite(float(term.detach())) and logs


def test_cifar100_mhe_is_the_baseline_plus_mhe():
    base, mhe = load_recipe("cifar100-baseline"), load_recipe("cifar100-mhe")
    a, b = base.to_dict(), mhe.to_dict()
    for key in ("data", "model", "loss", "optimizer", "schedule", "train"):
        assert a[key] == b[key]
    assert b["regularizers"] == [{"name": "mhe",
                                  "args": {"s": "0", "layers": "all", "half_space": False}}]
    variant = load_recipe("cifar100-mhe", ["regularizers.0.args.s=a1",
                                           "regularizers.0.args.half_space=true"])
    reg = REGULARIZERS.create("mhe", **variant.regularizers[0].args)
    assert (reg.s, reg.half_space, reg.hidden_weight, reg.output_weight) == ("a1", True, 0.1, 1.0)


def test_sphereface_plus_is_sphereface_plus_mhe_on_the_classifier():
    base = load_recipe("fmnist-sphereface").to_dict()
    plus = load_recipe("sphereface-plus").to_dict()
    for key in ("data", "model", "loss", "optimizer", "schedule", "train", "seed"):
        assert base[key] == plus[key]
    assert base["loss"]["name"] == "asoftmax" and base["loss"]["args"]["m"] == 4
    assert base["regularizers"] == []
    assert plus["regularizers"] == [{"name": "mhe", "args": {"s": "1", "layers": "classifier"}}]
