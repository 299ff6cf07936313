"""Adversarial losses on the discriminator's logits, registered in ``GAN_LOSSES``.

A loss gives the discriminator's objective from its logits on a real and a generated
batch, and the generator's from the logits on a generated one; both are means over the
batch, to be minimized.

- ``hinge`` (Lim & Ye 2017; Miyato et al., ICLR 2018, Eq. 16-17, the SNGAN ResNet runs):
  L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))],  L_G = -E[D(G(z))].
- ``nonsaturating`` (Goodfellow et al. 2014, §3; the "standard" loss of the SNGAN
  standard-CNN runs, and of the MHE-GAN code): with D's probability σ(D(x)),
  L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))] = -E[log σ(D(x))] - E[log(1 - σ(D(G(z))))],
  L_G = E[softplus(-D(G(z)))] = -E[log σ(D(G(z)))].

    loss = GAN_LOSSES.create("hinge")
    loss.discriminator(d_real, d_fake), loss.generator(d_fake)   # scalars
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from hypercli.registry import GAN_LOSSES


class GANLoss:
    """Base class: ``discriminator(d_real, d_fake)`` and ``generator(d_fake)`` on logits
    of shape (B,), each a scalar mean over the batch."""

    def discriminator(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator(self, d_fake: Tensor) -> Tensor:
        raise NotImplementedError


@GAN_LOSSES.register("hinge")
class HingeLoss(GANLoss):
    """Hinge loss (SNGAN's ResNet runs): D on relu(1 - D(x)) + relu(1 + D(G(z))), G on -D(G(z)).

    L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], L_G = -E[D(G(z))].
    """

    def discriminator(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()

    def generator(self, d_fake: Tensor) -> Tensor:
        return -d_fake.mean()


@GAN_LOSSES.register("nonsaturating")
class NonSaturatingLoss(GANLoss):
    """Non-saturating loss (Goodfellow et al. 2014): D's cross-entropy, G on -log σ(D(G(z))).

    L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))], L_G = E[softplus(-D(G(z)))].
    """

    def discriminator(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def generator(self, d_fake: Tensor) -> Tensor:
        return F.softplus(-d_fake).mean()
