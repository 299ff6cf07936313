"""The bundled GAN recipes: they build, the MHE ones are their baselines plus MHE on D,
and the CIFAR-10 ones run the paper's 100K steps."""

from __future__ import annotations

import math

import pytest
import torch

from hypercli.gan import build_gan
from hypercli.recipe import ignored_settings, load_recipe
from hypercli.registry import REGULARIZERS

PAIRS = [("sngan-fmnist", "sngan-mhe-fmnist"), ("sngan-cifar10", "sngan-mhe-cifar10")]


@pytest.mark.parametrize("base, mhe", PAIRS)
def test_the_mhe_recipe_is_its_baseline_plus_mhe_on_the_discriminator(base, mhe):
    a, b = load_recipe(base).to_dict(), load_recipe(mhe).to_dict()
    for key in ("task", "seed", "data", "gan", "train"):
        assert a[key] == b[key], key
    assert a["regularizers"] == []
    assert b["regularizers"] == [{"name": "mhe", "args": {
        "s": "0", "layers": "hidden", "half_space": False, "lam": 5e-8}}]


@pytest.mark.parametrize("name", [n for pair in PAIRS for n in pair])
def test_the_recipe_builds_its_gan_and_regularizer(name):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    recipe = load_recipe(name)
    assert recipe.task == "gan" and ignored_settings(recipe) == []
    channels, size = (3, 32) if recipe.data.name == "cifar10" else (1, 28)
    gan = build_gan(recipe.gan, channels, size)
    z = torch.randn(2, recipe.gan.z_dim)
    assert gan.generator(z).shape == (2, channels, size, size) and gan(z).shape == (2,)
    for cfg in recipe.regularizers:
        reg = REGULARIZERS.create(cfg.name, **cfg.args)
        reg.attach(gan.discriminator)
        term, logs = reg.loss()
        convs = [k for k in logs if k.startswith("convs.")]
        assert len(convs) == (7 if size == 32 else 5)  # every layer with more than one unit
        assert math.isfinite(float(term.detach())) and term.requires_grad


def test_the_cifar10_recipes_run_100k_steps_of_batch_64():
    recipe = load_recipe("sngan-cifar10")
    batches = math.ceil(50_000 / recipe.data.batch_size)  # the last batch holds 16 images
    assert recipe.data.batch_size == 64 and batches == 782
    assert math.ceil(recipe.train.epochs * batches) == 100_000
    g = recipe.gan
    assert (g.lr_g, g.lr_d, tuple(g.betas), g.n_dis, g.z_dim) == (2e-4, 2e-4, (0.5, 0.999), 1,
                                                                  128)
