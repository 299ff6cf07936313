"""SphereFace revived: the multiplicative margin on normalized features, margin term detached."""

from __future__ import annotations

import torch

from hypercli.losses.angular import psi_angle, safe_acos
from hypercli.losses.scaled import ScaledCosineHead
from hypercli.registry import HEADS


@HEADS.register("sphereface-r")
class SphereFaceR(ScaledCosineHead):
    """SphereFace-R (Liu et al., "SphereFace Revived", TPAMI 2022): s (cos θ_y + Δ), Δ detached.

    Δ = ψ(θ_y) - cos θ_y with ψ(θ) = (-1)^k cos(mθ) - 2k, k = floor(mθ/π), for real m;
    the gradient flows through cos θ_y only ("characteristic gradient detachment"), as in
    opensphere's SphereFace head. Features normalized. Defaults s=30, m=1.7.
    """

    exact_gradient = False  # the margin term is a constant for autograd, by design

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 s: float = 30.0, m: float = 1.7) -> None:
        super().__init__(in_features, num_classes, label_smoothing, s, m)

    def target(self, cos_y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            delta = psi_angle(safe_acos(cos_y), self.m) - cos_y
        return cos_y + delta
