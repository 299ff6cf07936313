"""CosFace / AM-Softmax: an additive cosine margin on normalized features and weights."""

from __future__ import annotations

import torch

from hypercli.losses.angular import cosine, replace_target
from hypercli.losses.base import MarginHead
from hypercli.registry import HEADS


@HEADS.register("cosface")
class CosFace(MarginHead):
    """CosFace / AM-Softmax (Wang et al. CVPR 2018, Eq. 4): target s(cos θ_y - m), rest s cos θ.

    Features and weights are normalized. Defaults s=64, m=0.35: the CosFace paper's (also
    pytorch-metric-learning's ``CosFaceLoss``); AM-Softmax (Wang et al. 2018) used s=30.
    """

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 s: float = 64.0, m: float = 0.35) -> None:
        super().__init__(in_features, num_classes, label_smoothing)
        self.s, self.m = float(s), float(m)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.s * cosine(features, self.weight)[0]

    def margin_logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos, _ = cosine(features, self.weight)
        target = cos.gather(1, labels.view(-1, 1)) - self.m
        return self.s * replace_target(cos, labels, target)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, " \
               f"s={self.s:g}, m={self.m:g}"
