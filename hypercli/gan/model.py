"""``GAN``: the generator and the discriminator of one run as one module, built from the
recipe's ``gan`` section (one ``model`` entry in a checkpoint holds both)."""

from __future__ import annotations

from typing import Any

from torch import nn

from hypercli.errors import HyperError
from hypercli.recipe import GanConfig
from hypercli.registry import DISCRIMINATORS, GENERATORS, check_kwargs

# what build_gan passes to every builder itself (from the data and gan.z_dim)
_G_SET = ("out_channels", "image_size", "z_dim")
_D_SET = ("in_channels", "image_size")


class GAN(nn.Module):
    """``generator`` maps z (B, z_dim) ~ N(0, I) to images (B, C, H, W) in [-1, 1];
    ``discriminator`` maps such images to logits (B,). ``forward`` is D(G(z))."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, z_dim: int) -> None:
        super().__init__()
        self.generator, self.discriminator, self.z_dim = generator, discriminator, z_dim

    def forward(self, z: Any) -> Any:
        return self.discriminator(self.generator(z))


def _build(registry: Any, name: str, args: dict[str, Any], given: dict[str, Any],
           key: str) -> nn.Module:
    taken = [k for k in given if k in args]
    if taken:
        raise HyperError(f"gan.{key}_args.{taken[0]}: set from the data and gan.z_dim, not "
                         f"by {key}_args; remove it")
    factory = registry.get(name)
    check_kwargs(factory, args, f"{registry.kind} {name!r} (gan.{key}_args)")
    try:
        return factory(**given, **args)
    except (ValueError, TypeError) as exc:
        raise HyperError(f"{registry.kind} {name!r}: {exc}") from None


def build_gan(cfg: GanConfig, channels: int, image_size: int) -> GAN:
    """The recipe's generator and discriminator for images (channels, image_size²).

    Raises ``HyperError`` for an unknown network, arguments it does not take, or a
    generator whose images do not have the data's shape.
    """
    g = _build(GENERATORS, cfg.generator, cfg.generator_args,
               dict(out_channels=channels, image_size=image_size, z_dim=cfg.z_dim), "generator")
    d = _build(DISCRIMINATORS, cfg.discriminator, cfg.discriminator_args,
               dict(in_channels=channels, image_size=image_size), "discriminator")
    g.z_dim = cfg.z_dim  # what sample() reads (a registered builder may not set it)
    return GAN(g, d, cfg.z_dim)
