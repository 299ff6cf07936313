"""Normalized softmax (NormFace): s cos θ, no margin."""

from __future__ import annotations

import torch

from hypercli.losses.angular import cosine
from hypercli.losses.base import MarginHead
from hypercli.registry import HEADS


@HEADS.register("norm-softmax")
class NormSoftmax(MarginHead):
    """Normalized softmax (NormFace, Wang et al. ACM MM 2017, Eq. 6): logits s cos θ_j.

    Features and weights are normalized, no margin. Default s=30 (AM-Softmax's scale;
    pytorch-metric-learning's ``NormalizedSoftmaxLoss`` uses temperature 0.05, s=20).
    """

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 s: float = 30.0) -> None:
        super().__init__(in_features, num_classes, label_smoothing)
        self.s = float(s)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.s * cosine(features, self.weight)[0]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, s={self.s:g}"
