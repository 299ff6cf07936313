"""Minimal adversarial perturbation norms: per sample, the smallest eps that flips the class.

The "norm needed to attack" measure of Liu et al., "Decoupled networks" (CVPR 2018,
arXiv:1804.08071), Sec. 5.4: for each correctly classified image, the smallest L-inf
(or L2) budget with which a multi-step attack changes the prediction. Found by a
vectorized search over eps, one budget per sample: doubling until the attack succeeds,
then bisection between the largest failing and the smallest succeeding budget.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from hypercli.attacks.base import Attack, eval_mode
from hypercli.attacks.bim import BIM
from hypercli.attacks.pgd_l2 import PGDL2
from hypercli.checks import median, require_unit_interval
from hypercli.errors import HyperError

Norm = Literal["linf", "l2"]
_START = {"linf": 1 / 255, "l2": 0.1}  # first budget tried


def _attack(model: nn.Module, norm: Norm, eps: Tensor, steps: int) -> Attack:
    # deterministic multi-step attacks (no random start), alpha = 2.5 eps / steps
    if norm == "linf":
        return BIM(model, eps=eps, steps=steps)
    return PGDL2(model, eps=eps, steps=steps, random_start=False)


@torch.no_grad()
def _flipped(model: nn.Module, adv: Tensor, labels: Tensor) -> Tensor:
    return model(adv).argmax(dim=1) != labels  # (B,) bool


def _norms(delta: Tensor, norm: Norm) -> Tensor:
    flat = delta.reshape(delta.shape[0], -1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(p=2, dim=1)


def min_norm_batch(model: nn.Module, images: Tensor, labels: Tensor, norm: Norm = "linf",
                   steps: int = 10, search_steps: int = 10,
                   eps_max: float | None = None) -> tuple[Tensor, Tensor]:
    """Per-sample minimal norms for one batch the model classifies correctly.

    Args:
        images: (B, C, H, W) in [0, 1], each classified as its label.
        labels: (B,) true classes.
        norm: "linf" (BIM) or "l2" (PGD-L2 without random start).
        steps: attack steps per budget tried.
        search_steps: bisection steps after the doubling phase; the bracket shrinks by
            2**search_steps from one doubling (relative precision ~0.1% at 10).
        eps_max: largest budget tried; default 1 (L-inf) or sqrt(C*H*W) (L2), the
            diameters of the image cube.

    Returns:
        (norms, adv): norms (B,) is the norm of adv - images at the smallest succeeding
        budget found (inf where even eps_max fails); adv (B, C, H, W) are those images
        (the clean image where none flipped).
    """
    if norm not in _START:
        raise HyperError(f"unknown norm {norm!r}; use linf or l2")
    if eps_max is not None and not 0 < eps_max < math.inf:
        raise HyperError(f"min_norm: eps_max must be finite and > 0, got {eps_max}")
    require_unit_interval(images, "min_norm: the images")
    device = images.device
    if images.shape[0] == 0:
        return torch.empty(0, device=device), images.clone()
    dim = images[0].numel()
    cap = eps_max if eps_max is not None else (1.0 if norm == "linf" else math.sqrt(dim))
    batch = images.shape[0]
    lo = torch.zeros(batch, device=device)  # largest budget known to fail
    hi = torch.full((batch,), math.inf, device=device)  # smallest budget known to succeed
    best = images.clone()
    eps = torch.full((batch,), min(_START[norm], cap), device=device)

    def probe(idx: Tensor, budget: Tensor) -> None:
        adv = _attack(model, norm, budget, steps)(images[idx], labels[idx])
        ok = _flipped(model, adv, labels[idx])
        hit, miss = idx[ok], idx[~ok]
        hi[hit] = budget[ok]
        best[hit] = adv[ok]
        lo[miss] = budget[~ok]

    with eval_mode(model):
        # doubling: find a succeeding budget for every sample, or give up at the cap
        todo = torch.arange(batch, device=device)
        while todo.numel():
            probe(todo, eps[todo])
            todo = todo[torch.isinf(hi[todo]) & (eps[todo] < cap)]
            eps[todo] = torch.clamp(eps[todo] * 2, max=cap)
        # bisection inside [lo, hi] for the samples that flipped
        found = torch.nonzero(torch.isfinite(hi)).flatten()
        for _ in range(search_steps if found.numel() else 0):
            probe(found, (lo[found] + hi[found]) / 2)
    norms = torch.where(torch.isfinite(hi), _norms(best - images, norm), hi)
    return norms, best


def min_norm(model: nn.Module, images: Tensor, labels: Tensor, norm: Norm = "linf",
             steps: int = 10, search_steps: int = 10, batch_size: int = 500,
             eps_max: float | None = None, return_norms: bool = False) -> dict:
    """Median and mean minimal perturbation norm over the clean-correct samples.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits; attacked in eval mode and
            left in its modes.
        images: (N, C, H, W) in [0, 1]; labels: (N,).
        norm, steps, search_steps, eps_max: as in ``min_norm_batch``.

    Returns a dict: ``norm``; ``median`` over all clean-correct samples (a sample no
    attack up to ``eps_max`` flips counts as infinitely robust; for an even count, the
    mean of the two middle values); ``mean`` over the flipped
    ones; ``n`` clean-correct samples searched; ``unflipped`` how many never flipped.
    Norms are in pixel units of [0, 1] images (multiply L-inf by 255 for 1/255 units).
    ``return_norms``: add ``norms``, the list of per-sample norms (clean-correct samples in
    dataset order; inf where none flipped), from which any statistic can be recomputed.

        >>> min_norm(net, x, y, norm="linf")["median"] * 255
    """
    from hypercli.attacks.robustness import predict

    require_unit_interval(images, "min_norm: the images")
    if batch_size < 1:
        raise HyperError(f"min_norm: batch_size must be >= 1, got {batch_size}")
    device = _device(model, images)
    found = []
    with eval_mode(model):
        preds = predict(model, images, batch_size, device)
        correct = torch.nonzero(preds == labels.to(preds.device)).flatten()
        for start in range(0, correct.numel(), batch_size):
            idx = correct[start:start + batch_size]
            x, y = images[idx].to(device), labels[idx].to(device)
            norms, _ = min_norm_batch(model, x, y, norm, steps, search_steps, eps_max)
            found.append(norms.cpu())
    norms = torch.cat(found) if found else torch.empty(0)
    finite = norms[torch.isfinite(norms)]
    out: dict = {
        "norm": norm,
        "median": median(norms),  # the mean of the two middle values for an even count
        "mean": float(finite.mean()) if finite.numel() else math.nan,
        "n": int(norms.numel()),
        "unflipped": int(norms.numel() - finite.numel()),
    }
    if return_norms:
        out["norms"] = norms.tolist()
    return out


def _device(model: nn.Module, images: Tensor) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else images.device
