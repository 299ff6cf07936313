"""ArcFace: an additive angular margin on normalized features and weights."""

from __future__ import annotations

import math

import torch

from hypercli.losses.angular import safe_acos
from hypercli.losses.scaled import ScaledCosineHead
from hypercli.registry import HEADS


@HEADS.register("arcface")
class ArcFace(ScaledCosineHead):
    """ArcFace (Deng et al. CVPR 2019, Eq. 3): target s cos(θ_y + m), others s cos θ_j.

    Where θ_y + m > π the target would stop decreasing in θ; as insightface
    (``easy_margin=False``) it is then cos θ_y - m sin m. Defaults s=64, m=0.5 (the paper's
    and insightface's).
    """

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 s: float = 64.0, m: float = 0.5) -> None:
        super().__init__(in_features, num_classes, label_smoothing, s, m)

    def target(self, cos_y: torch.Tensor) -> torch.Tensor:
        theta = safe_acos(cos_y)
        return torch.where(theta + self.m <= math.pi, torch.cos(theta + self.m),
                           cos_y - self.m * math.sin(self.m))
