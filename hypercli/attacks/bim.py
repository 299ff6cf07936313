"""BIM, multi-step FGSM: signed steps of size alpha, projected to the eps-ball and [0, 1].

Kurakin, Goodfellow, Bengio, "Adversarial examples in the physical world" (ICLR-W 2017,
arXiv:1607.02533), Eq. 2 ("basic iterative method"); no random start.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hypercli.attacks.base import Attack, per_sample
from hypercli.registry import ATTACKS


@ATTACKS.register("bim")
class BIM(Attack):
    """BIM / multi-step FGSM, L-inf: x_{k+1} = Clip_{x,eps}(x_k + alpha * sign(grad L)).

    Clip_{x,eps} clamps each pixel to [max(x - eps, 0), min(x + eps, 1)] (Kurakin 2017,
    Eq. 2), after every step. Starts at x (no random start: that is PGD).
    Defaults: steps = 10, alpha = 2.5 * eps / steps.

        >>> adv = BIM(model, eps=8 / 255, alpha=2 / 255, steps=10)(images, labels)
    """

    norm = "linf"
    default_steps = 10
    has_random_start = False

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        eps = per_sample(self.eps, images)
        alpha = per_sample(self.alpha, images)
        low = torch.clamp(images - eps, min=0)  # (B, C, H, W)
        high = images + eps
        x = images.detach()  # an alias: gradient() marks x, not images
        for _ in range(self.steps):
            grad = self.gradient(x, labels)
            x = x.detach() + alpha * grad.sign()
            x = torch.minimum(torch.maximum(x, low), high).clamp_(max=1)
        return x
