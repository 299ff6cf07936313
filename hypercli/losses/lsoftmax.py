"""L-Softmax: the multiplicative angular margin with unnormalized class weights."""

from __future__ import annotations

import torch

from hypercli.losses.angular import NORM_EPS, cosine
from hypercli.losses.asoftmax import ASoftmax
from hypercli.nn.functional import upcast
from hypercli.registry import HEADS


@HEADS.register("lsoftmax")
class LSoftmax(ASoftmax):
    """L-Softmax (Liu et al., ICML 2016, Eq. 4-6): ||W_y|| ||x|| ψ(θ_y), W not normalized.

    Logits f_j = <W_j, x> = ||W_j|| ||x|| cos θ_j; the target is
    ||W_y|| ||x|| (ψ(θ_y) + λ cos θ_y)/(1 + λ) with the same ψ and λ schedule as A-Softmax.
    Defaults are the authors' MNIST prototxt: m=4, base 1000, γ 2.5e-5, power 35, λ_min 0.
    """

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0,
                 m: int = 4, base: float = 1000.0, gamma: float = 2.5e-5, power: float = 35.0,
                 lambda_min: float = 0.0) -> None:
        super().__init__(in_features, num_classes, label_smoothing, m, base, gamma, power,
                         lambda_min)

    def scale(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos, norm = cosine(features, self.weight)
        w_norm = torch.linalg.vector_norm(upcast(self.weight), dim=1).clamp_min(NORM_EPS)
        return cos, norm * w_norm.view(1, -1)  # ||x|| ||W_j||, (B, C)
