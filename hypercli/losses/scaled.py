"""The base of the scaled-cosine margin heads (CosFace, ArcFace, SphereFace-R): s · cos θ.

Features and weights are normalized; inference logits are s cos θ_j. A subclass writes one
method, ``target(cos_y)``: the margin-bearing cosine of the target class, (B, 1) -> (B, 1).
"""

from __future__ import annotations

import torch

from hypercli.losses.angular import cosine, replace_target
from hypercli.losses.base import MarginHead


class ScaledCosineHead(MarginHead):
    """Logits s cos θ_j; in training the target class gets s · ``target(cos θ_y)``."""

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 s: float = 30.0, m: float = 0.0) -> None:
        super().__init__(in_features, num_classes, label_smoothing)
        self.s, self.m = float(s), float(m)

    def target(self, cos_y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.s * cosine(features, self.weight)[0]

    def margin_logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos, _ = cosine(features, self.weight)  # (B, C)
        cos_y = cos.gather(1, labels.view(-1, 1))  # (B, 1)
        return self.s * replace_target(cos, labels, self.target(cos_y))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, "
                f"s={self.s:g}, m={self.m:g}")
