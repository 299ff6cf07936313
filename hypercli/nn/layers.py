"""Choosing the layers a weight regularizer acts on: the angular operators, all convs, or all."""

from __future__ import annotations

from torch import nn

from hypercli.errors import HyperError
from hypercli.nn.angular import AngularMixin

LAYER_SETS = ("angular", "conv", "all")


def select_layers(model: nn.Module, layers: str, what: str) -> list[tuple[str, nn.Module]]:
    """(name, module) of ``angular`` operators, every ``conv`` (nn.Conv2d), or ``all``
    (nn.Conv2d and nn.Linear); the classifier head is never included."""
    if layers not in LAYER_SETS:
        raise HyperError(f"{what}: unknown layers {layers!r}; choose one of: "
                         f"{', '.join(LAYER_SETS)}")
    kinds: tuple[type, ...] = {
        "angular": (AngularMixin,),
        "conv": (nn.Conv2d,),
        "all": (nn.Conv2d, nn.Linear),
    }[layers]
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]
    if not found:
        hint = " (the model has no angular operator: set model.conv, or layers: conv)" \
            if layers == "angular" else ""
        raise HyperError(f"{what}: no {layers} layers to act on{hint}")
    return found
