"""PGD, L-inf: BIM from a uniformly random start in the eps-ball.

Madry et al., "Towards deep learning models resistant to adversarial attacks" (ICLR 2018,
arXiv:1706.06083), Eq. 2 with a random start (Sec. 3 and App. A).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hypercli.attacks.base import Attack, per_sample
from hypercli.registry import ATTACKS


@ATTACKS.register("pgd")
class PGD(Attack):
    """PGD, L-inf: x_{k+1} = Pi_{x+S}(x_k + alpha * sign(grad L)), from x + U(-eps, eps).

    The random start draws ``torch.empty_like(x).uniform_(-eps, eps)`` (torchattacks' draw,
    so ``torch.manual_seed`` reproduces its images) and clips to [0, 1]. Each step clips
    delta = x_k - x to [-eps, eps] and x + delta to [0, 1]. Defaults: steps = 10,
    alpha = 2.5 * eps / steps, random_start = True.

        >>> torch.manual_seed(0); adv = PGD(model, eps=8 / 255, steps=10)(images, labels)
    """

    norm = "linf"
    default_steps = 10
    default_random_start = True

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        eps = per_sample(self.eps, images)
        alpha = per_sample(self.alpha, images)
        x = images.detach()  # (B, C, H, W), an alias: gradient() marks x, not images
        if self.random_start:
            if isinstance(eps, Tensor):
                noise = torch.empty_like(x).uniform_(-1, 1) * eps
            else:
                noise = torch.empty_like(x).uniform_(-eps, eps)
            x = torch.clamp(x + noise, min=0, max=1)
        low, high = (-eps, eps)
        for _ in range(self.steps):
            grad = self.gradient(x, labels)
            x = x.detach() + alpha * grad.sign()
            delta = torch.clamp(x - images, min=low, max=high)
            x = torch.clamp(images + delta, min=0, max=1)
        return x
