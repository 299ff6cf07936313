"""PGD, L2: normalized-gradient steps projected to the L2 eps-ball, from a random start.

Madry et al., "Towards deep learning models resistant to adversarial attacks" (ICLR 2018,
arXiv:1706.06083), Eq. 2 with the L2 ball as the constraint set S.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hypercli.attacks.base import Attack, per_sample
from hypercli.registry import ATTACKS

_DIV_EPS = 1e-10  # added to gradient norms before dividing (torchattacks' eps_for_division)


@ATTACKS.register("pgd-l2")
class PGDL2(Attack):
    """PGD, L2: x_{k+1} = Pi_{||x' - x||_2 <= eps}(x_k + alpha * g / ||g||_2), g = grad L.

    Random start: delta = r * eps * z / ||z||_2 with z ~ N(0, I) and r ~ U(0, 1) per
    sample (torchattacks' draw, seeded alike), clipped to [0, 1]. Each step rescales delta
    by min(1, eps / ||delta||_2) and clips x + delta to [0, 1]. eps and alpha are plain
    L2 norms of pixel vectors in [0, 1]. Defaults: steps = 10, alpha = 2.5 * eps / steps,
    random_start = True.

        >>> adv = PGDL2(model, eps=1.0, alpha=0.2, steps=10)(images, labels)
    """

    norm = "l2"
    default_steps = 10
    default_random_start = True

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        batch = images.shape[0]
        flat = (batch,) + (1,) * (images.dim() - 1)  # (B, 1, 1, 1)
        eps_b = self.eps.to(images.device, images.dtype) if isinstance(self.eps, Tensor) \
            else self.eps  # (B,) or float
        eps = per_sample(self.eps, images)
        alpha = per_sample(self.alpha, images)
        x = images.detach()  # (B, C, H, W), an alias: gradient() marks x, not images
        if self.random_start:
            delta = torch.empty_like(x).normal_()
            n = delta.reshape(batch, -1).norm(p=2, dim=1).view(flat)
            r = torch.zeros_like(n).uniform_(0, 1)
            delta *= r / n * eps
            x = torch.clamp(x + delta, min=0, max=1)
        for _ in range(self.steps):
            grad = self.gradient(x, labels)
            grad_norms = torch.norm(grad.reshape(batch, -1), p=2, dim=1) + _DIV_EPS  # (B,)
            grad = grad / grad_norms.view(flat)
            x = x.detach() + alpha * grad
            delta = x - images
            delta_norms = torch.norm(delta.reshape(batch, -1), p=2, dim=1)  # (B,)
            # min(1, eps / ||delta||); a zero delta needs no rescaling (torchattacks: 0/0 = NaN)
            factor = torch.where(delta_norms > 0, eps_b / delta_norms,
                                 torch.ones_like(delta_norms))
            factor = torch.minimum(factor, torch.ones_like(delta_norms))
            delta = delta * factor.view(flat)
            x = torch.clamp(images + delta, min=0, max=1)
        return x
