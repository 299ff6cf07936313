"""How much the MHE-GAN recipes' MHE term moves the discriminator: at initialization, the
gradient norm of the MHE term over that of the adversarial loss, per convolution.

    python scripts/gan_mhe_gradient.py        # sngan-mhe-fmnist and sngan-mhe-cifar10

Real images are replaced by uniform noise in [-1, 1] (the data are not needed for the
scale); generated images come from the untrained generator.
"""

from __future__ import annotations

import argparse

import torch

from hypercli.gan import build_gan
from hypercli.recipe import load_recipe
from hypercli.registry import GAN_LOSSES, REGULARIZERS

SHAPES = {"sngan-mhe-fmnist": (1, 28), "sngan-mhe-cifar10": (3, 32)}


def ratios(name: str, batch: int = 64, seed: int = 0) -> list[float]:
    """||∇ MHE term|| / ||∇ D loss|| for each convolution of the recipe's discriminator."""
    torch.manual_seed(seed)
    recipe = load_recipe(name)
    channels, size = SHAPES[name]
    gan = build_gan(recipe.gan, channels, size)
    d = gan.discriminator
    reg = REGULARIZERS.create(recipe.regularizers[0].name, **recipe.regularizers[0].args)
    reg.attach(d)
    real = torch.rand(batch, channels, size, size) * 2 - 1
    with torch.no_grad():
        fake = gan.generator(torch.randn(batch, recipe.gan.z_dim))
    logits = d(torch.cat([real, fake]))
    d_loss = GAN_LOSSES.create(recipe.gan.loss).discriminator(logits[:batch], logits[batch:])
    weights = [m.parametrizations.weight.original for m in d.convs]
    g_adv = torch.autograd.grad(d_loss, weights)
    g_mhe = torch.autograd.grad(reg.loss()[0], weights)
    return [float(b.norm() / a.norm()) for a, b in zip(g_adv, g_mhe, strict=True)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", default=",".join(SHAPES))
    args = p.parse_args()
    torch.set_num_threads(1)
    for name in args.recipes.split(","):
        shown = "  ".join(f"{r:.1e}" for r in ratios(name))
        print(f"{name}: |grad MHE| / |grad D loss| per convolution: {shown}")


if __name__ == "__main__":
    main()
