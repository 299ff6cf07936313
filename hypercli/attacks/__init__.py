"""Adversarial attacks (registered in ATTACKS), minimal perturbation norms, robustness.

    from hypercli.attacks import create_attack, robustness
    attack = create_attack("bim", net, eps=8, alpha=2, steps=10)  # 1/255 units for L-inf
    robustness(net, x, y, attack)["robust_acc"]
"""

from __future__ import annotations

from torch import nn

from hypercli.attacks.base import Attack, eval_mode
from hypercli.attacks.bim import BIM
from hypercli.attacks.fgsm import FGSM
from hypercli.attacks.min_norm import min_norm, min_norm_batch
from hypercli.attacks.pgd import PGD
from hypercli.attacks.pgd_l2 import PGDL2
from hypercli.attacks.robustness import default_targets, predict, robustness
from hypercli.errors import HyperError
from hypercli.registry import ATTACKS

__all__ = [
    "Attack", "BIM", "FGSM", "PGD", "PGDL2", "attack_scale", "create_attack",
    "default_targets", "eval_mode", "min_norm", "min_norm_batch", "predict", "robustness",
]


def attack_scale(method: str) -> float:
    """Pixel units per command-line unit: 1/255 for L-inf attacks, 1 for L2 attacks."""
    return 1 / 255 if ATTACKS.get(method).norm == "linf" else 1.0


def create_attack(method: str, model: nn.Module, eps: float, alpha: float | None = None,
                  steps: int | None = None, random_start: bool | None = None,
                  targeted: bool = False) -> Attack:
    """Build ``method`` from command-line / recipe units: L-inf eps, alpha in 1/255, L2 plain.

    ``--eps 8`` with an L-inf method means 8/255; with ``pgd-l2`` it means an L2 norm of 8.
    """
    if not 0 <= eps < float("inf"):  # also rejects NaN
        raise HyperError(f"eps must be a finite number >= 0, got {eps}")
    if alpha is not None and not 0 < alpha < float("inf"):
        raise HyperError(f"alpha must be a finite number > 0, got {alpha}")
    scale = attack_scale(method)
    return ATTACKS.create(method, model=model, eps=eps * scale,
                          alpha=None if alpha is None else alpha * scale, steps=steps,
                          random_start=random_start, targeted=targeted)
