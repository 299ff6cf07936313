"""FGSM: one signed-gradient step of size eps (Goodfellow et al. 2015, arXiv:1412.6572)."""

from __future__ import annotations

import torch
from torch import Tensor

from hypercli.attacks.base import Attack, per_sample
from hypercli.registry import ATTACKS


@ATTACKS.register("fgsm")
class FGSM(Attack):
    """FGSM, L-inf: x' = clip_[0,1](x + eps * sign(grad_x L(x, y))) (Goodfellow 2015, Eq. 3).

    One step, no step size, no random start. Targeted: x' = clip(x - eps * sign(grad L(x, t))).

        >>> adv = FGSM(model, eps=8 / 255)(images, labels)
    """

    norm = "linf"
    fixed_steps = 1
    has_alpha = False
    has_random_start = False

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        eps = per_sample(self.eps, images)
        x = images.detach()  # (B, C, H, W), an alias: gradient() marks x, not images
        grad = self.gradient(x, labels)
        adv = images + eps * grad.sign()
        return torch.clamp(adv, min=0, max=1)
