"""Plain softmax cross-entropy: logits W x + b (the baseline every margin is compared to)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.losses.base import MarginHead
from hypercli.registry import HEADS


@HEADS.register("softmax")
class Softmax(MarginHead):
    """Plain softmax loss: f_j = <W_j, x> + b_j (no normalization, no margin)."""

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__(in_features, num_classes, label_smoothing)
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(features, self.weight, self.bias)
