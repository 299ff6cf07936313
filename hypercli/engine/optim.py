"""Optimizers and per-iteration learning-rate schedules from the recipe."""

from __future__ import annotations

import math

import torch
from torch import nn

from hypercli.recipe import OptimizerConfig, ScheduleConfig


def build_optimizer(model: nn.Module, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """SGD / Adam / AdamW. A parameter gets no weight decay when a ``no_decay`` entry is part
    of its name or is the class name of its module (``SphereConv2d``: SphereNet's setup)."""
    decay, no_decay = [], []
    for mod_name, module in model.named_modules():
        for name, p in module.named_parameters(prefix=mod_name, recurse=False):
            if not p.requires_grad:
                continue
            skip = any(s in name or s == type(module).__name__ for s in cfg.no_decay)
            (no_decay if skip else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(step: int, cfg: ScheduleConfig, steps_per_epoch: int, total_steps: int) -> float:
    """The multiplier of the base learning rate at optimizer step ``step`` (0-based)."""
    warm = cfg.warmup_epochs * steps_per_epoch
    if cfg.name != "onecycle" and warm > 0 and step < warm:
        return min(1.0, (step + 1) / warm)  # a warm-up shorter than a step ends at once
    t = step / max(total_steps, 1)
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "multistep":
        if cfg.milestone_steps:  # Caffe's multistep: lr x gamma once the step count hits one
            return cfg.gamma ** sum(step >= m for m in cfg.milestone_steps)
        epoch = step / steps_per_epoch
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    if cfg.name == "poly":  # insightface's PolyScheduler: (1 - t)^power after the warm-up
        span = max(total_steps - warm, 1.0)
        return max(0.0, 1.0 - (step - warm) / span) ** cfg.power
    if cfg.name == "cosine":
        t0 = warm / max(total_steps, 1)
        return 0.5 * (1.0 + math.cos(math.pi * (t - t0) / max(1.0 - t0, 1e-12)))
    # onecycle (Smith & Topin 2019), as torch's OneCycleLR with its defaults: cosine from
    # lr/25 up to lr over pct_start of the steps, then down to lr/25/1e4.
    return _one_cycle(step, cfg.pct_start, total_steps)


def _one_cycle(step: int, pct_start: float, total_steps: int) -> float:
    """torch's OneCycleLR factor; a warm-up of less than one step (pct_start x total_steps
    <= 1: short runs) starts at the peak, and a single step uses the peak."""
    lo, hi, end = 1 / 25, 1.0, 1 / 25 / 1e4
    up = float(pct_start * total_steps) - 1
    if up <= 0:  # no warm-up step: torch would divide by zero at up == 0
        up = 0.0
    if step <= up:
        a, b, t = lo, hi, (step / up if up > 0 else 1.0)
    else:
        span = total_steps - 1 - up
        a, b, t = hi, end, (min((step - up) / span, 1.0) if span > 0 else 1.0)
    return b + (a - b) / 2 * (math.cos(math.pi * t) + 1)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, steps_per_epoch: int,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg, steps_per_epoch, total_steps))
