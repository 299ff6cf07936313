"""CosFace / AM-Softmax: an additive cosine margin on normalized features and weights."""

from __future__ import annotations

import torch

from hypercli.losses.scaled import ScaledCosineHead
from hypercli.registry import HEADS


@HEADS.register("cosface")
class CosFace(ScaledCosineHead):
    """CosFace / AM-Softmax (Wang et al. CVPR 2018, Eq. 4): target s(cos θ_y - m), rest s cos θ.

    Features and weights are normalized. Defaults s=64, m=0.35: the CosFace paper's (also
    pytorch-metric-learning's ``CosFaceLoss``); AM-Softmax (Wang et al. 2018) used s=30.
    """

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 s: float = 64.0, m: float = 0.35) -> None:
        super().__init__(in_features, num_classes, label_smoothing, s, m)

    def target(self, cos_y: torch.Tensor) -> torch.Tensor:
        return cos_y - self.m
