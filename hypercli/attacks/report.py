"""Attack a trained checkpoint on its own test set: what ``hyper attack`` reports.

Budgets are in command-line units (L-inf ``eps`` and ``alpha`` in 1/255, L2 plain), so
``attack_checkpoint(path, "bim", eps=8)`` attacks with an L-inf budget of 8/255.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hypercli.errors import HyperError


def attack_checkpoint(checkpoint: str | Path, method: str = "fgsm", eps: float = 8.0,
                      alpha: float | None = None, steps: int | None = None,
                      random_start: bool | None = None, targeted: bool = False,
                      n: int = 1000, batch_size: int = 256, min_norm: str | None = None,
                      device: str = "auto", save_adv: str | Path | None = None,
                      min_norm_steps: int = 10) -> dict[str, Any]:
    """Robustness of ``checkpoint`` on the first ``n`` test images (dataset order).

    Returns ``robustness``'s dict plus the settings; ``eps``/``alpha`` and the minimal
    norms in command-line units (``units``: "1/255" for L-inf, "L2" for L2). ``save_adv``
    writes {"x", "x_adv", "y"} (float32 (N, C, H, W) in [0, 1], int64 (N,)) atomically,
    loadable with ``torch.load(path, weights_only=True)``. Targeted attacks aim at class
    (y + 1) mod K.
    """
    from hypercli.attacks import attack_scale, create_attack, robustness
    from hypercli.data import Split, build_data
    from hypercli.engine.checkpoint import load_checkpoint
    from hypercli.engine.distributed import resolve_device
    from hypercli.engine.io import atomic_torch_save
    from hypercli.registry import ATTACKS

    if n < 1:
        raise HyperError(f"--n {n}: attack at least one image")
    if batch_size < 1:
        raise HyperError(f"--batch-size {batch_size}: must be at least 1")
    if min_norm not in (None, "linf", "l2"):
        raise HyperError(f"--min-norm {min_norm!r}: use linf or l2")
    ATTACKS.get(method)  # an unknown method fails before anything is loaded
    if save_adv is not None and Path(save_adv).is_dir():
        raise HyperError(f"--save-adv {str(save_adv)!r} is a folder; give a file name such "
                         "as adv.pt")
    dev = resolve_device(device)
    model, recipe = load_checkpoint(checkpoint, dev)
    attack = create_attack(method, model, eps=eps, alpha=alpha, steps=steps,
                           random_start=random_start, targeted=targeted)
    test = build_data(recipe.data, recipe.seed).test
    if not isinstance(test, Split):  # streamed from disk: the first n images, in memory
        test = test.head(n)
    n = min(n, len(test))
    x, y = test.floats(0, n), test.labels[:n]  # (N, C, H, W) in [0, 1], (N,)
    result = robustness(model, x, y, attack, batch_size=batch_size, min_norm=min_norm,
                        min_norm_steps=min_norm_steps, return_adv=save_adv is not None)
    x_adv = result.pop("x_adv", None)
    if save_adv is not None:
        atomic_torch_save({"x": x, "x_adv": x_adv, "y": y}, save_adv)
    scale = attack_scale(method)
    out: dict[str, Any] = {
        "checkpoint": str(checkpoint), "recipe": recipe.name, "method": method,
        "norm": attack.norm, "units": "1/255" if attack.norm == "linf" else "L2",
        "eps": eps, "alpha": _unit(attack.alpha, scale), "steps": attack.steps,
        "random_start": attack.random_start, "targeted": attack.targeted,
        "device": str(dev), **result,
    }
    if "min_norm" in out:
        mn = dict(out["min_norm"])
        s = attack_scale("bim") if mn["norm"] == "linf" else 1.0
        mn["units"] = "1/255" if mn["norm"] == "linf" else "L2"
        mn["median"], mn["mean"] = mn["median"] / s, mn["mean"] / s
        out["min_norm"] = mn
    if save_adv is not None:
        out["saved"] = str(save_adv)
    return out


def _unit(value: float | torch.Tensor, scale: float) -> float:
    return float(value) / scale
