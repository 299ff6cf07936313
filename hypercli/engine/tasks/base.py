"""``Task``: one kind of run (classification, a GAN, ...) as the training loop sees it.

The loop (``hypercli.engine.trainer.train``) owns everything every kind of run shares: the
run directory and its lock, checkpoints and exact resumes (epoch, batch, step, history,
RNG states), Ctrl-C and SIGTERM, the progress bar, ``metrics.jsonl``, the divergence guard
on weights and evaluation losses, and ``torchrun``. A task writes only what differs: what
it builds from the recipe, one training step, what an epoch and an evaluation report, and
what its checkpoint holds. A kind of run is registered in ``hypercli.registry.TASKS`` and
chosen by the recipe's ``task:``::

    @TASKS.register("classify")
    class ClassifyTask(Task):
        def step(self, x, y, stats): ...

The loop calls, in order: ``__init__`` (build data, model, optimizer; no files touched),
``load_weights`` and ``load_state`` (on ``--resume``), ``prepare`` (wrap for DDP /
compile), then per batch ``step`` and ``after_step``, per epoch ``epoch_record``,
``check_weights``, (when due) ``eval_record`` and ``end_epoch``, and ``state`` for every
checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from hypercli.engine import distributed as D
from hypercli.errors import HyperError
from hypercli.recipe import Recipe


class EpochStats:
    """Running sums of one epoch (restored on a mid-epoch resume); ``n`` counts images,
    ``steps`` optimizer steps, ``seconds`` training time."""

    def __init__(self, state: dict[str, float] | None = None) -> None:
        self.s: dict[str, float] = dict(state or {"n": 0.0, "steps": 0.0, "seconds": 0.0})

    def add(self, key: str, value: float) -> None:
        self.s[key] = self.s.get(key, 0.0) + value

    def mean(self, key: str) -> float:
        """The per-image mean of a sum kept with ``add(key, value * batch_size)``."""
        return self.s.get(key, 0.0) / max(self.s["n"], 1.0)


def regularized(loss: torch.Tensor, regularizers: list[tuple[str, Any]],
                stats: EpochStats) -> torch.Tensor:
    """``loss`` plus the terms of ``(log prefix, Regularizer)`` pairs; each one's logs are
    added to ``stats`` as ``<prefix>/<key>`` (averaged per step in the epoch record)."""
    total = loss
    for prefix, reg in regularizers:
        term, logs = reg.loss()
        if term is not None:
            total = total + term
        for key, v in logs.items():
            stats.add(f"{prefix}/{key}", float(v))
    return total


class Task:
    """Base class of the kinds of run. Subclasses set ``loader`` (the training batches of
    this rank: ``set_epoch``, ``len``, ``batches(start)``) and ``meta`` (what a checkpoint
    records of the data) in ``__init__`` and write the methods below."""

    loader: Any
    meta: dict[str, Any]
    model: nn.Module  # what the checkpoint's "model" entry holds
    networks = "the model"  # how errors about ``model`` name it
    ckpt_path: Path | None = None  # set by the loop: named in divergence messages
    run_dir: Path | None = None  # set by the loop: where end_epoch writes its files

    def __init__(self, recipe: Recipe, dev: torch.device, dist: D.Dist,
                 console: Console) -> None:
        self.recipe, self.dev, self.dist, self.console = recipe, dev, dist, console

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run: ``train.steps``, else ``train.epochs``
        (fractions allowed) epochs of this rank's loader."""
        tc = self.recipe.train
        return tc.steps if tc.steps is not None else math.ceil(tc.epochs * len(self.loader))

    def describe(self) -> str:
        """What the run header says after the recipe name (parameters, images)."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds of this task (weights, optimizer and scheduler states).
        Every rank calls it (a sharded model gathers itself); the main rank writes it."""
        raise NotImplementedError

    def load_weights(self, state: dict[str, Any], path: Path) -> None:
        """Restore ``self.model`` from the checkpoint's ``model`` entry at ``path`` (first,
        so that a shape change names its tensors)."""
        from hypercli.engine.checkpoint import load_weights

        load_weights(self.model, state["model"], str(path),
                     f"{self.networks} of a run cannot change shape on resume; start a new "
                     "run with another --out")

    def sync_batchnorm(self, module: nn.Module) -> nn.Module:
        """``module`` with SyncBatchNorm under torchrun when ``train.sync_batchnorm`` asks
        (CUDA only: a one-line ``HyperError`` on the CPU); else ``module`` itself."""
        if not (self.dist.enabled and self.recipe.train.sync_batchnorm):
            return module
        if self.dev.type != "cuda":
            raise HyperError("train.sync_batchnorm needs CUDA (torch's SyncBatchNorm runs "
                             "only on GPUs); set train.sync_batchnorm=false on the CPU")
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)

    def load_state(self, state: dict[str, Any], path: Path,
                   changes: dict[str, tuple[Any, Any]]) -> None:
        """Restore the rest of ``state()`` (optimizer and scheduler states); ``changes``
        are the recipe values changed on resume (already checked as changeable) to write
        into them."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Wrap the networks for training (DDP under torchrun, torch.compile); after any
        resume, before the first step."""

    def step(self, x: torch.Tensor, y: torch.Tensor, stats: EpochStats, step: int) -> None:
        """One training step on a batch (images in [0, 1] on the device, labels), the
        optimizer and scheduler steps included; ``step`` is the number of steps done
        before it. Adds the batch's sums to ``stats`` (``n`` included). Raises
        ``DivergenceError`` on a non-finite loss."""
        raise NotImplementedError

    def progress(self, stats: EpochStats) -> dict[str, float]:
        """The progress bar's ``loss`` and ``acc`` fields for the epoch so far."""
        return {"loss": stats.mean("loss"), "acc": stats.mean("correct")}

    def epoch_record(self, stats: EpochStats, step: int) -> dict[str, Any]:
        """This epoch's line of ``metrics.jsonl`` (sums reduced over ranks)."""
        raise NotImplementedError

    def check_weights(self, where: str, ckpt_path: Path) -> None:
        """Raise ``DivergenceError`` when a weight is not finite (every rank calls it, so all
        stop together)."""
        raise NotImplementedError

    def eval_record(self) -> dict[str, Any]:
        """The evaluation at the end of an epoch. Every rank calls it (a sharded model gathers
        itself first); what the main rank returns is logged; ``*_loss`` keys are checked by
        the divergence guard."""
        return {}

    def end_epoch(self, epoch: int) -> None:
        """Called on the main rank when epoch ``epoch`` (1-based) is done, after its
        evaluation and before its checkpoint: files a task writes every epoch into
        ``run_dir`` (a GAN's sample grid). A resume that repeats the epoch rewrites them."""

    def after_step(self, step: int) -> dict[str, Any] | None:
        """Called after every step (all ranks); a record returned is logged as its own
        line of ``metrics.jsonl`` (evaluations every N steps)."""
        return None

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        """The task's part of ``summary.json``, from the last epoch record."""
        return {}

    def headline(self, history: list[dict[str, Any]]) -> str:
        """The run's result in a few words for the end of ``hyper train`` (the ``result``
        of ``summary.json``), from the metrics history."""
        return ""
