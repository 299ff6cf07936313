"""A-Softmax, the SphereFace loss: a multiplicative angular margin m with λ annealing."""

from __future__ import annotations

import torch

from hypercli.errors import HyperError
from hypercli.losses.angular import annealed_lambda, cosine, psi_sign, replace_target
from hypercli.losses.base import MarginHead
from hypercli.registry import HEADS


@HEADS.register("asoftmax")
class ASoftmax(MarginHead):
    """A-Softmax (SphereFace, Liu et al. CVPR 2017, Eq. 7): target ||x|| ψ(θ_y), ||W_j|| = 1.

    Logits f_j = ||x|| cos θ_j; in training the target class gets
    f_y = ||x|| (ψ(θ_y) + λ cos θ_y) / (1 + λ) with ψ(θ) = (-1)^k cos(mθ) - 2k computed as in
    the authors' Caffe layer (``psi_sign``). Each training forward first adds 1 to the
    ``iteration`` buffer (saved in checkpoints), then λ = max(λ_min, base (1 + γ iter)^-power).
    Defaults are SphereFace-20/64's: m=4, base 1000, γ 0.12, power 1, λ_min 5 (λ reaches 5 at
    iteration 1659). The PyTorch port's schedule is base=1500, gamma=0.1. ``logs()`` gives λ.
    """

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 m: int = 4, base: float = 1000.0, gamma: float = 0.12, power: float = 1.0,
                 lambda_min: float = 5.0) -> None:
        super().__init__(in_features, num_classes, label_smoothing)
        if m not in (1, 2, 3, 4):
            raise HyperError(f"{type(self).__name__}: margin m must be 1, 2, 3 or 4, got {m}")
        if lambda_min < 0 or base < 0:
            raise HyperError(f"{type(self).__name__}: base and lambda_min must be >= 0")
        self.m = int(m)
        self.base, self.gamma, self.power = float(base), float(gamma), float(power)
        self.lambda_min = float(lambda_min)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def current_lambda(self) -> torch.Tensor:
        return annealed_lambda(self.iteration, self.base, self.gamma, self.power,
                               self.lambda_min)

    def scale(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos θ (B, C) and the factor turning it into a logit: ||x|| (B, 1)."""
        return cosine(features, self.weight)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        cos, scale = self.scale(features)
        return scale * cos  # (B, C)

    def margin_logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.iteration.add_(1)
        cos, scale = self.scale(features)  # (B, C), (B, 1) or (B, C)
        lam = self.current_lambda().to(cos.dtype)
        cos_y = cos.gather(1, labels.view(-1, 1))  # (B, 1)
        target = (psi_sign(cos_y, self.m) + lam * cos_y) / (1.0 + lam)
        return scale * replace_target(cos, labels, target)

    def logs(self) -> dict[str, float]:
        return {"lambda": float(self.current_lambda())}

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, m={self.m}, "
                f"lambda=max({self.lambda_min:g}, {self.base:g}(1+{self.gamma:g} it)"
                f"^-{self.power:g})")
