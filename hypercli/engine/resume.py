"""What ``--resume --set`` may change, and how a change reaches the restored optimizer.

A resumed run restores the optimizer and scheduler states, which hold the old learning
rate, momentum and weight decay; a changed value is written into them (and logged), so the
recipe a run folder records is the one in use. Values that would make the resumed run a
different run (the model, the data and its order, the optimizer kind) cannot change on
resume: that is a one-line error; shape changes name the tensors that do not fit.
"""

from __future__ import annotations

from typing import Any

import torch

from hypercli.errors import HyperError
from hypercli.recipe import Recipe

# dotted recipe keys (or prefixes ending in ".") that a resumed run can take up exactly
CHANGEABLE = ("name", "description", "optimizer.lr", "optimizer.momentum",
              "optimizer.nesterov", "optimizer.weight_decay", "schedule.", "train.", "eval.",
              "data.eval_batch_size", "data.on_device", "gan.lr_g", "gan.lr_d")


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


def recipe_changes(stored: dict[str, Any], recipe: Recipe) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (stored value, new value)}`` for every value that differs."""
    old, new = _flatten(stored), _flatten(recipe.to_dict())
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)}


def check_changes(changes: dict[str, tuple[Any, Any]], where: str) -> None:
    """Raise ``HyperError`` naming the changed keys a resume cannot take up."""
    fixed = [k for k in changes
             if not any(k == c or (c.endswith(".") and k.startswith(c)) for c in CHANGEABLE)]
    if fixed:
        shown = ", ".join(f"{k} ({changes[k][0]!r} -> {changes[k][1]!r})" for k in fixed[:3])
        raise HyperError(f"{where}: {shown} cannot change on resume (the run would not be the "
                         "same run); start a new run with another --out. On resume you can "
                         "change optimizer.lr/momentum/nesterov/weight_decay, schedule.*, "
                         "train.*, eval.* and a GAN's gan.lr_g/lr_d")


def apply_optimizer_settings(optimizer: torch.optim.Optimizer,
                             scheduler: torch.optim.lr_scheduler.LambdaLR,
                             recipe: Recipe) -> None:
    """Write the recipe's lr, momentum, nesterov and weight decay into restored states.

    The base learning rate of every group becomes ``optimizer.lr``; the current one is
    ``optimizer.lr`` times the (possibly new) schedule's factor at the restored step.
    Group 0 decays with ``optimizer.weight_decay``; group 1 (``no_decay``) keeps 0.
    """
    cfg = recipe.optimizer
    scheduler.base_lrs = [cfg.lr] * len(optimizer.param_groups)
    for i, group in enumerate(optimizer.param_groups):
        group["initial_lr"] = cfg.lr
        group["lr"] = cfg.lr * scheduler.lr_lambdas[i](scheduler.last_epoch)
        group["weight_decay"] = cfg.weight_decay if i == 0 else 0.0
        if "momentum" in group:  # SGD
            group["momentum"], group["nesterov"] = cfg.momentum, cfg.nesterov
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]  # what get_last_lr() says
