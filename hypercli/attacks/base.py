"""The attack base class: eval mode in, the model's own modes back out, one method per attack.

Every attack takes images in [0, 1] and returns adversarial images in [0, 1]; ``eps`` and
``alpha`` are in the same pixel units (an L-inf ``eps`` of 8/255 is ``8 / 255``). The order
of operations of each subclass follows torchattacks 3.5.1 (Kim, "Torchattacks: A PyTorch
repository for adversarial attacks", arXiv:2010.01950), so that the same model, inputs,
``eps``, ``alpha``, ``steps`` and random seed give the same adversarial images bit for bit.

    attack = ATTACKS.create("pgd", model=net, eps=8 / 255, alpha=2 / 255, steps=10)
    adv = attack(images, labels)  # (B, C, H, W) in [0, 1]

Differences from torchattacks, none of which changes an adversarial image:
- the model's per-module train/eval flags are restored exactly (torchattacks calls
  ``model.train()`` on the whole model when it was found training);
- ``eps`` and ``alpha`` may be a tensor of shape (B,), one budget per sample (used by the
  minimal-norm search);
- ``alpha=None`` means 2.5 * eps / steps (Madry et al. 2018, arXiv:1706.06083, App. A),
  which is torchattacks' default 2/255 at its default eps = 8/255 and steps = 10.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hypercli.checks import require_unit_interval
from hypercli.errors import HyperError

Budget = float | Tensor  # a python float, or a tensor (B,) with one value per sample


class Attack:
    """Base class: subclasses set ``norm`` and the defaults and write ``perturb`` only.

    Args:
        model: maps images (B, C, H, W) in [0, 1] to logits (B, K).
        eps: perturbation budget in pixel units (L-inf or L2 after ``norm``), >= 0.
        alpha: step size, same units; None: 2.5 * eps / steps (FGSM: eps, not settable).
        steps: number of gradient steps; None: the attack's default.
        random_start: start from a random point of the eps-ball; None: the attack's default.
        targeted: if True, ``labels`` passed to ``__call__`` are target classes and the
            attack descends the cross-entropy to them instead of ascending it.
    """

    norm: ClassVar[str] = "linf"  # "linf" or "l2": the ball eps measures
    default_steps: ClassVar[int] = 10
    default_random_start: ClassVar[bool] = False
    fixed_steps: ClassVar[int | None] = None  # an attack with exactly this many steps
    has_random_start: ClassVar[bool] = True
    has_alpha: ClassVar[bool] = True

    def __init__(self, model: nn.Module, eps: Budget, alpha: Budget | None = None,
                 steps: int | None = None, random_start: bool | None = None,
                 targeted: bool = False) -> None:
        name = type(self).__name__
        if isinstance(eps, Tensor):
            if not bool(((eps >= 0) & torch.isfinite(eps)).all()):
                raise HyperError(f"{name}: eps must be finite and >= 0")
        elif not 0 <= eps < float("inf"):  # also rejects NaN
            raise HyperError(f"{name}: eps must be finite and >= 0, got {eps}")
        if steps is not None and steps < 1:
            raise HyperError(f"{name}: steps must be >= 1, got {steps}")
        if self.fixed_steps is not None and steps not in (None, self.fixed_steps):
            raise HyperError(f"{name} takes exactly {self.fixed_steps} step; "
                             "use bim or pgd for several steps")
        if not self.has_alpha and alpha is not None:
            raise HyperError(f"{name} takes no step size alpha (its step is eps); "
                             "use bim or pgd to set one")
        if not self.has_random_start and random_start:
            raise HyperError(f"{name} has no random start; use pgd for one")
        if alpha is not None and not isinstance(alpha, Tensor) and not 0 < alpha < float("inf"):
            raise HyperError(f"{name}: alpha must be finite and > 0, got {alpha}")
        self.model = model
        self.eps = eps
        self.steps = steps if steps is not None else (self.fixed_steps or self.default_steps)
        if not self.has_alpha:
            alpha = eps  # one step of the whole budget
        self.alpha = alpha if alpha is not None else 2.5 * eps / self.steps
        self.random_start = (self.default_random_start if random_start is None
                             else bool(random_start))
        self.targeted = bool(targeted)

    def __repr__(self) -> str:
        def show(v: Budget) -> str:
            return f"tensor{tuple(v.shape)}" if isinstance(v, Tensor) else f"{v:.6g}"

        return (f"{type(self).__name__}(eps={show(self.eps)}, alpha={show(self.alpha)}, "
                f"steps={self.steps}, random_start={self.random_start}, "
                f"targeted={self.targeted})")

    def __call__(self, images: Tensor, labels: Tensor) -> Tensor:
        """Adversarial images (B, C, H, W) in [0, 1] for ``images`` (B, C, H, W) in [0, 1].

        ``labels`` (B,) are the true classes, or the target classes when ``targeted``.
        The model runs in eval mode and is left with its modules' modes as found; no
        gradient is accumulated into its parameters.
        """
        require_unit_interval(images, f"{type(self).__name__}: the images")
        device = self.device(images)
        images = images.detach().to(device)
        labels = labels.detach().to(device)
        with eval_mode(self.model), torch.enable_grad():
            adv = self.perturb(images, labels)
        return adv.detach()

    def device(self, images: Tensor) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else images.device

    def perturb(self, images: Tensor, labels: Tensor) -> Tensor:
        """The attack proper; the model is already in eval mode. Written by subclasses."""
        raise NotImplementedError

    def gradient(self, images: Tensor, labels: Tensor) -> Tensor:
        """d cost / d images (B, C, H, W): cost = mean cross-entropy, negated if targeted."""
        images.requires_grad_(True)
        logits = self.model(images)  # (B, K)
        cost = F.cross_entropy(logits, labels)
        if self.targeted:
            cost = -cost
        (grad,) = torch.autograd.grad(cost, images, retain_graph=False, create_graph=False)
        return grad


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode; on exit give every module back its own train/eval flag."""
    modules = list(model.modules())
    modes = [m.training for m in modules]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.training = mode


def per_sample(value: Budget, like: Tensor) -> Budget:
    """A float unchanged; a tensor (B,) reshaped to broadcast over ``like`` (B, ...)."""
    if isinstance(value, Tensor):
        return value.to(like.device, like.dtype).reshape(-1, *([1] * (like.dim() - 1)))
    return value
