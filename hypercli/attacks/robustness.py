"""Robustness of a classifier under one attack: clean / robust accuracy, success, norms.

Robust accuracy counts a clean error as non-robust (the RobustBench convention, Croce et
al. 2021, arXiv:2010.09670): a sample is robust if it is classified correctly both clean
and attacked.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hypercli.attacks.base import Attack, eval_mode
from hypercli.attacks.min_norm import min_norm as _min_norm
from hypercli.checks import require_finite, require_unit_interval
from hypercli.errors import HyperError


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int,
            device: torch.device | str) -> Tensor:
    """Predicted classes (N,) on ``device`` for images (N, C, H, W) in [0, 1], in batches."""
    out = []
    with eval_mode(model):
        for i in range(0, images.shape[0], batch_size):
            logits = model(images[i:i + batch_size].to(device))
            require_finite(logits, "the model's logits", "its weights are not finite")
            out.append(logits.argmax(dim=1))
    return torch.cat(out)


def default_targets(labels: Tensor, num_classes: int) -> Tensor:
    """Target classes for a targeted attack when none are given: (y + 1) mod K."""
    return (labels + 1) % num_classes


def robustness(model: nn.Module, images: Tensor, labels: Tensor, attack: Attack,
               batch_size: int = 500, targets: Tensor | None = None,
               min_norm: str | None = None, min_norm_steps: int = 10,
               return_adv: bool = False) -> dict:
    """Attack ``images`` in batches and measure how the model holds up.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, K); evaluated and attacked
            in eval mode, left in its modes.
        images: (N, C, H, W) in [0, 1]; labels: (N,) true classes.
        attack: an ``Attack`` built on ``model``.
        targets: (N,) target classes for a targeted attack; default (y + 1) mod K.
        min_norm: "linf" or "l2" to add the minimal-norm search of ``min_norm``.
        return_adv: add the adversarial images (N, C, H, W) on CPU as ``x_adv``.

    Returns a dict of floats: ``n``; ``clean_acc``; ``robust_acc`` (correct clean and
    attacked); ``success_rate`` (over clean-correct samples, the fraction the attack
    fooled: prediction changed, or equal to the target when targeted); ``mean_l2`` and
    ``mean_linf`` of x_adv - x over all N samples, in pixel units of [0, 1] images; with
    ``min_norm``, ``min_norm`` = {"norm", "median", "mean", "n", "unflipped"}.

        >>> r = robustness(net, x, y, ATTACKS.create("fgsm", model=net, eps=8 / 255))
        >>> r["robust_acc"]
    """
    require_unit_interval(images, "robustness: the images")
    if images.shape[0] == 0 or images.shape[0] != labels.shape[0]:
        raise HyperError(f"robustness: {images.shape[0]} images and {labels.shape[0]} labels; "
                         "give at least one image, and one label per image")
    if batch_size < 1:
        raise HyperError(f"robustness: batch_size must be >= 1, got {batch_size}")
    device = attack.device(images)
    n = images.shape[0]
    clean_ok, adv_ok, fooled, l2, linf, advs = [], [], [], [], [], []
    with eval_mode(model):
        for start in range(0, n, batch_size):
            x = images[start:start + batch_size].to(device)  # (B, C, H, W)
            y = labels[start:start + batch_size].to(device)  # (B,)
            with torch.no_grad():
                logits = model(x)
            require_finite(logits, "the model's logits", "its weights are not finite")
            clean = logits.argmax(dim=1)
            if attack.targeted:
                t = (targets[start:start + batch_size].to(device) if targets is not None
                     else default_targets(y, logits.shape[1]))
                x_adv = attack(x, t)
            else:
                x_adv = attack(x, y)
            with torch.no_grad():
                adv = model(x_adv).argmax(dim=1)
            clean_ok.append(clean == y)
            adv_ok.append(adv == y)
            fooled.append(adv == t if attack.targeted else adv != y)
            delta = (x_adv - x).reshape(x.shape[0], -1)
            l2.append(delta.norm(p=2, dim=1))
            linf.append(delta.abs().amax(dim=1))
            if return_adv:
                advs.append(x_adv.cpu())
    clean_t, adv_t, fooled_t = torch.cat(clean_ok), torch.cat(adv_ok), torch.cat(fooled)
    n_correct = int(clean_t.sum())
    result: dict = {
        "n": n,
        "clean_acc": float(clean_t.float().mean()),
        "robust_acc": float((clean_t & adv_t).float().mean()),
        "success_rate": float((fooled_t & clean_t).sum()) / n_correct if n_correct else 0.0,
        "mean_l2": float(torch.cat(l2).mean()),
        "mean_linf": float(torch.cat(linf).mean()),
    }
    if min_norm is not None:
        result["min_norm"] = _min_norm(model, images, labels, norm=min_norm,  # type: ignore[arg-type]
                                       steps=min_norm_steps, batch_size=batch_size)
    if return_adv:
        result["x_adv"] = torch.cat(advs)
    return result
