"""ArcFace: an additive angular margin on normalized features and weights."""

from __future__ import annotations

import math

import torch

from hypercli.losses.angular import cosine, replace_target, safe_acos
from hypercli.losses.base import MarginHead
from hypercli.registry import HEADS


@HEADS.register("arcface")
class ArcFace(MarginHead):
    """ArcFace (Deng et al. CVPR 2019, Eq. 3): target s cos(θ_y + m), others s cos θ_j.

    Where θ_y + m > π the target would stop decreasing in θ; as insightface
    (``easy_margin=False``) it is then cos θ_y - m sin m. Defaults s=64, m=0.5 (the paper's
    and insightface's).
    """

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 s: float = 64.0, m: float = 0.5) -> None:
        super().__init__(in_features, num_classes, label_smoothing)
        self.s, self.m = float(s), float(m)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.s * cosine(features, self.weight)[0]

    def margin_logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos, _ = cosine(features, self.weight)
        cos_y = cos.gather(1, labels.view(-1, 1))  # (B, 1)
        theta = safe_acos(cos_y)
        target = torch.where(theta + self.m <= math.pi, torch.cos(theta + self.m),
                             cos_y - self.m * math.sin(self.m))
        return self.s * replace_target(cos, labels, target)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, " \
               f"s={self.s:g}, m={self.m:g}"
