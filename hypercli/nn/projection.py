"""Periodic projection of filters to unit norm (DCNet's training script, every 100 steps)."""

from __future__ import annotations

import torch
from torch import nn

from hypercli.nn.functional import normalize_weight
from hypercli.nn.layers import select_layers
from hypercli.nn.regularizer import Regularizer
from hypercli.registry import REGULARIZERS


@REGULARIZERS.register("weight-projection")
class WeightProjection(Regularizer):
    """Project each filter to unit norm, w <- w / sqrt(Σw² + 1e-4), every N steps (DCNet: 100).

    ``every``: the period in optimizer steps (default 100, as DCNet's training script).

    The angular operators are invariant to the filter scale (up to the 1e-4 under the
    root), so this changes how the optimizer (weight decay, step sizes) sees the weights,
    not what they compute.
    ``layers``: ``angular`` (default), ``conv`` or ``all``.
    """

    def __init__(self, every: int = 100, layers: str = "angular") -> None:
        if every < 1:
            raise ValueError(f"weight-projection: every must be >= 1, got {every}")
        self.every = int(every)
        self.layers = layers

    def attach(self, model: nn.Module) -> None:
        super().attach(model)
        self.modules = [m for _, m in select_layers(model, self.layers, "weight-projection")]

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        if step % self.every:
            return
        for m in self.modules:
            m.weight.copy_(normalize_weight(m.weight).to(m.weight.dtype))
