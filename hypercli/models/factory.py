"""``create_model``: a registered body, the recipe's operators and head, assembled into a Net."""

from __future__ import annotations

import functools

from torch import nn

from hypercli.errors import HyperError
from hypercli.models.net import Net, Normalize
from hypercli.recipe import Recipe
from hypercli.registry import CONVS, HEADS, LINEARS, MODELS, check_kwargs


def operator(registry, name: str, args: dict, where: str):
    """A factory with the signature of the torch primitive, ``args`` bound."""
    cls = registry.get(name)
    check_kwargs(cls, args, f"{registry.kind} {name!r} ({where})")
    return functools.partial(cls, **args) if args else cls


def create_model(recipe: Recipe, num_classes: int, in_channels: int, image_size: int,
                 mean: list[float] | None = None, std: list[float] | None = None,
                 pretrained: bool = True) -> Net:
    """Build the recipe's model for data of the given shape (images in [0, 1]).

    ``pretrained=False`` ignores ``model.args.weights`` (a checkpoint brings its own)."""
    m = recipe.model
    args = {k: v for k, v in m.args.items() if pretrained or k != "weights"}
    conv = operator(CONVS, m.conv, m.conv_args, "model.conv_args")
    linear = operator(LINEARS, m.linear, m.linear_args, "model.linear_args")
    builder = MODELS.get(m.name)
    check_kwargs(builder, args, f"model {m.name!r} (model.args)")
    try:
        body, width = builder(in_channels=in_channels, image_size=image_size, conv=conv,
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
