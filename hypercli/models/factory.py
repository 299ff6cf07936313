"""``create_model``: a registered body, the recipe's operators and head, assembled into a Net.

Two optional attributes of a builder function change how it is called:

- ``builder.rectangular = True``: the builder takes ``image_size`` as ``(H, W)`` and checks
  it itself (the face networks: 112x96, 112x112). Other builders get an int and need
  square images: a non-square size is a ``HyperError`` naming the fix.
- ``builder.input_normalization = (mean, std)``: the network's own pixel normalization of
  [0, 1] images, one mean and one std for every channel (SphereFace: (x - 127.5) / 128 of
  the 0..255 image is mean 0.5, std 128/255). It replaces the data's statistics, so the
  network sees the pixels it was designed (and its released weights trained) for.
"""

from __future__ import annotations

import functools

from torch import nn

from hypercli.checks import image_hw
from hypercli.errors import HyperError
from hypercli.models.net import Net, Normalize
from hypercli.recipe import Recipe
from hypercli.registry import CONVS, HEADS, LINEARS, MODELS, check_kwargs


def operator(registry, name: str, args: dict, where: str):
    """A factory with the signature of the torch primitive, ``args`` bound."""
    cls = registry.get(name)
    check_kwargs(cls, args, f"{registry.kind} {name!r} ({where})")
    return functools.partial(cls, **args) if args else cls


def create_model(recipe: Recipe, num_classes: int, in_channels: int,
                 image_size: int | tuple[int, int] | list[int],
                 mean: list[float] | None = None, std: list[float] | None = None,
                 pretrained: bool = True) -> Net:
    """Build the recipe's model for data of the given shape (images in [0, 1]).

    ``image_size``: ``S`` (S x S) or ``(H, W)``. ``mean``/``std``: the data's per-channel
    statistics, used by ``Normalize`` unless the builder brings its own
    (``input_normalization``, see the module docstring). ``pretrained=False`` ignores
    ``model.args.weights`` (a checkpoint brings its own). Raises ``HyperError`` for unknown
    names or arguments, and for a size the network cannot take."""
    m = recipe.model
    args = {k: v for k, v in m.args.items() if pretrained or k != "weights"}
    conv = operator(CONVS, m.conv, m.conv_args, "model.conv_args")
    linear = operator(LINEARS, m.linear, m.linear_args, "model.linear_args")
    builder = MODELS.get(m.name)
    check_kwargs(builder, args, f"model {m.name!r} (model.args)")
    h, w = image_hw(image_size, "the image size")
    if not getattr(builder, "rectangular", False) and h != w:
        raise HyperError(f"model {m.name!r} takes square images; the data gives {h}x{w} "
                         f"(HxW): set data.image_size to one size (e.g. {min(h, w)}) to resize "
                         "and crop them square")
    size = (h, w) if getattr(builder, "rectangular", False) else h
    own = getattr(builder, "input_normalization", None)
    if own is not None:
        mean, std = [float(own[0])] * in_channels, [float(own[1])] * in_channels
    try:
        body, width = builder(in_channels=in_channels, image_size=size, conv=conv,
                              linear=linear, batchnorm=m.batchnorm, **args)
    except (ValueError, TypeError) as exc:
        raise HyperError(f"model {m.name!r}: {exc}") from None
    embed = None
    if m.feature_dim is not None:
        embed = linear(width, m.feature_dim)
        width = m.feature_dim
    loss = recipe.loss
    head_cls = HEADS.get(loss.name)
    check_kwargs(head_cls, loss.args, f"loss {loss.name!r} (loss.args)")
    head = head_cls(width, num_classes, label_smoothing=loss.label_smoothing, **loss.args)
    normalize = Normalize(mean or [0.0] * in_channels, std or [1.0] * in_channels)
    return Net(normalize, body, head, embed)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
