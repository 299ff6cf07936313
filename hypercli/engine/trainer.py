"""``train(recipe) -> summary``: the one training loop every kind of run plugs into.

A kind of run (``recipe.task``: ``classify`` by default; ``hypercli.engine.tasks``) writes
its steps; this loop does what all share. One run directory holds ``recipe.yaml`` (the
resolved recipe), ``metrics.jsonl`` (one line per epoch, plus any evaluation a task runs
every N steps), ``checkpoint.pt`` (after every epoch, atomically; also on Ctrl-C and
SIGTERM) and ``summary.json``. Runs resume exactly from their checkpoint: the batch order
and the augmentation of every batch are seeded, and the RNG states are saved. Ctrl-C and
SIGTERM take effect between two steps (``hypercli.engine.stop``); one process at a time
holds a run directory (``hypercli.engine.lock``); non-finite weights stop the run and are
never checkpointed (``hypercli.engine.guard``); ``--resume --set`` applies or refuses each
change (``hypercli.engine.resume``). Under ``torchrun`` every rank runs this loop and
rank 0 writes.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from hypercli.engine import distributed as D
from hypercli.engine import guard
from hypercli.engine.checkpoint import (
    FILENAME,
    RESUME_KEYS,
    checkpoint_file,
    read_checkpoint,
    require_keys,
    save_checkpoint,
)
from hypercli.engine.io import atomic_write_text, make_dirs, remove_stale_temps
from hypercli.engine.lock import RunLock
from hypercli.engine.progress import training_progress
from hypercli.engine.resume import check_changes, recipe_changes
from hypercli.engine.runs import mark_latest, new_run_dir
from hypercli.engine.stop import StopRequest
from hypercli.engine.tasks import EpochStats, Task
from hypercli.engine.tasks.classify import build_adversary  # noqa: F401  (public before)
from hypercli.errors import DivergenceError, HyperError, NonFiniteError
from hypercli.recipe import Recipe, ignored_settings, save_recipe
from hypercli.registry import TASKS

RUN_FILES = [FILENAME, "metrics.jsonl", "summary.json", "recipe.yaml"]


class _Stop(Exception):
    """A stop request (signal) seen at a step boundary."""


def train(recipe: Recipe, out_dir: str | Path | None = None, resume: bool = False,
          device: str | None = None, progress: bool = True,
          console: Console | None = None) -> dict[str, Any]:
    """Train ``recipe``; returns the summary (test accuracy, loss, wall time, images/s).

    ``out_dir``: the run directory (default ``runs/<recipe>/<timestamp>``).
    ``resume``: continue from ``out_dir/checkpoint.pt``.
    ``device``: ``auto``/``cpu``/``cuda``; default ``recipe.train.device``.

    Ctrl-C or SIGTERM: the current step finishes, a checkpoint is written, and the summary
    says ``interrupted`` with the ``signal`` and the ``exit_code`` (128 + its number).
    Raises ``HyperError`` for bad input, another process holding ``out_dir``, or a
    ``--resume`` whose recipe changes what a run cannot change; ``DivergenceError`` when
    the loss, the weights or an evaluation loss stop being finite.
    """
    console = console or Console(stderr=True)
    t_start = time.perf_counter()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = D.resolve_device(device or recipe.train.device, local_rank)
    dist = D.setup(dev)

    if resume and out_dir is None:
        raise HyperError("--resume needs --out DIR: the run directory to continue")
    run_dir = Path(out_dir) if out_dir is not None else new_run_dir(recipe.name)
    if dist.enabled:  # every rank must agree on the directory rank 0 chose
        box = [str(run_dir)]
        torch.distributed.broadcast_object_list(box, src=0)
        run_dir = Path(box[0])
    ckpt_path = run_dir / FILENAME
    if dist.main:
        for line in ignored_settings(recipe):
            console.print(f"[yellow]warning:[/] {line}")
    if not resume and dist.main and ckpt_path.exists():
        raise HyperError(f"{run_dir} already holds a run; add --resume to continue it "
                         "or choose another --out")

    torch.manual_seed(recipe.seed)
    task: Task = TASKS.get(recipe.task)(recipe, dev, dist, console)
    if resume:
        checkpoint_file(ckpt_path)  # a missing checkpoint fails before anything is created
    lock = RunLock(run_dir)
    if dist.main:  # one process per run directory, from here to the end of the run
        make_dirs(run_dir)
        lock.acquire()
        if not resume and ckpt_path.exists():  # another run finished here meanwhile
            lock.release()
            raise HyperError(f"{run_dir} already holds a run; add --resume to continue it "
                             "or choose another --out")
        remove_stale_temps(run_dir, RUN_FILES)  # left by a write that was killed
    try:
        return _Run(recipe, task, run_dir, dev, dist, console).run(
            resume, out_dir is None, progress, t_start)
    finally:
        lock.release()


class _Run:
    """The loop proper, run while this process holds the run directory's lock."""

    def __init__(self, recipe: Recipe, task: Task, run_dir: Path, dev: torch.device,
                 dist: D.Dist, console: Console) -> None:
        self.recipe, self.task, self.run_dir = recipe, task, run_dir
        self.dev, self.dist, self.console = dev, dist, console
        self.ckpt_path = run_dir / FILENAME
        task.ckpt_path, task.run_dir = self.ckpt_path, run_dir
        self.epoch = self.batch = self.step = 0
        self.history: list[dict[str, Any]] = []
        self.stats = EpochStats()

    def restore(self) -> None:
        state = read_checkpoint(self.ckpt_path)
        require_keys(state, self.ckpt_path, RESUME_KEYS)
        self.task.load_weights(state, self.ckpt_path)
        changes = recipe_changes(state["recipe"], self.recipe)
        check_changes(changes, f"--resume {self.run_dir}")
        self.task.load_state(state, self.ckpt_path, changes)
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        if changes and self.dist.main:
            shown = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items())
            self.console.print(f"resuming at step {self.step} with changed settings: {shown}")
            save_recipe(self.recipe, self.run_dir / "recipe.yaml")  # the recipe now in use
        self.history = list(state["history"])
        self.stats = EpochStats(state["epoch_stats"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.dev.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.dev)

    def checkpoint(self, epoch: int, batch: int) -> None:
        """Write the checkpoint (main rank); every rank takes part (a sharded model gathers)."""
        self.task.check_weights(f"at epoch {epoch + 1}, step {batch}" if batch else
                                f"after epoch {epoch}", self.ckpt_path)
        state = self.task.state()
        if not self.dist.main:
            return
        dev = self.dev
        save_checkpoint(self.ckpt_path, {
            "recipe": self.recipe.to_dict(), "data": self.task.meta, **state,
            "epoch": epoch, "batch": batch, "step": self.step, "history": self.history,
            "epoch_stats": self.stats.s,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None},
        })

    def write_metrics(self) -> None:
        atomic_write_text(self.run_dir / "metrics.jsonl",
                          "".join(json.dumps(h) + "\n" for h in self.history))

    def stop_requested(self, stop: StopRequest) -> bool:
        if not self.dist.enabled:
            return stop.requested
        return D.all_reduce_sum([float(stop.requested)], self.dev, self.dist)[0] > 0

    def run(self, resume: bool, latest: bool, progress: bool, t_start: float) -> dict[str, Any]:
        recipe, task, dist, console = self.recipe, self.task, self.dist, self.console
        if resume:
            self.restore()
        elif dist.main:
            save_recipe(recipe, self.run_dir / "recipe.yaml")
        if dist.main and latest:
            mark_latest(self.run_dir)
        task.prepare()
        if dist.main:
            where = f"{self.dev}" + (f" x {dist.world} processes" if dist.enabled else "")
            console.print(f"[bold]{recipe.name}[/]: {task.describe()}, {where} -> "
                          f"{self.run_dir}")
        bar = training_progress(console, enabled=progress and dist.main)
        bar.start()
        stop = StopRequest().__enter__()
        try:
            self.epochs(bar, stop)
        except (KeyboardInterrupt, _Stop):
            bar.stop()
            self.checkpoint(self.epoch, self.batch)
            if dist.main:
                console.print(f"[yellow]stopped by {stop.name or 'SIGINT'}[/] at epoch "
                              f"{self.epoch + 1}, step {self.batch}; checkpoint saved. Resume "
                              f"with: hyper train --resume --out {self.run_dir}")
            return {"interrupted": True, "run_dir": str(self.run_dir), "epoch": self.epoch,
                    "batch": self.batch, "signal": stop.name or "SIGINT",
                    "exit_code": stop.exit_code}
        finally:
            bar.stop()
            stop.__exit__(None, None, None)
        return self.summary(t_start)

    def epochs(self, bar: Any, stop: StopRequest) -> None:
        task, dist, tc = self.task, self.dist, self.recipe.train
        loader = task.loader
        per_epoch, total = len(loader), task.total_steps
        n_epochs = math.ceil(total / per_epoch)
        while self.step < total:
            if self.stop_requested(stop):
                raise _Stop
            loader.set_epoch(self.epoch)
            # the steps of this epoch: to its end, or to the run's end (a resume with more
            # train.epochs after a fractional last epoch continues at the next epoch)
            n_steps = self.batch + min(per_epoch - self.batch, total - self.step)
            bar_task = bar.add_task(f"epoch {self.epoch + 1}/{n_epochs}", total=n_steps,
                                    completed=self.batch, loss=0.0, acc=0.0, ips=0.0, wait=0.0)
            t0 = t_data = time.perf_counter()
            data_wait = 0.0  # seconds spent waiting for the loader in this epoch
            for x, y in loader.batches(self.batch):
                data_wait += time.perf_counter() - t_data
                if self.batch >= n_steps:
                    break
                task.step(x, y, self.stats, self.step)
                self.step += 1
                self.batch += 1
                event = task.after_step(self.step)
                if event is not None:
                    # the epoch as a fraction, so curves put it between the epoch lines
                    self.history.append({"epoch": round(self.step / per_epoch, 6),
                                         "step": self.step, **event})
                    if dist.main:
                        self.write_metrics()
                if dist.main and (self.batch % 5 == 0 or self.batch == n_steps):
                    el = self.stats.s["seconds"] + time.perf_counter() - t0
                    bar.update(bar_task, completed=self.batch, **task.progress(self.stats),
                               ips=self.stats.s["n"] * dist.world / max(el, 1e-9),
                               wait=data_wait / max(time.perf_counter() - t0, 1e-9))
                if self.batch < n_steps and self.stop_requested(stop):  # inside the epoch
                    self.stats.add("seconds", time.perf_counter() - t0)
                    raise _Stop
                t_data = time.perf_counter()
            self.stats.add("seconds", time.perf_counter() - t0)
            record = {"epoch": self.epoch + 1, **task.epoch_record(self.stats, self.step)}
            record["data_wait"] = data_wait / max(time.perf_counter() - t0, 1e-9)
            skipped = D.all_reduce_sum([float(getattr(loader, "skipped", 0))], self.dev,
                                       dist)[0]
            if skipped:
                record["skipped_corrupt"] = int(skipped)
                if dist.main:
                    self.console.print(f"[yellow]epoch {self.epoch + 1}: skipped "
                                       f"{int(skipped)} corrupt images[/] (data.skip_corrupt)")
            task.check_weights(f"after epoch {self.epoch + 1}", self.ckpt_path)
            if tc.eval_every and ((self.epoch + 1) % tc.eval_every == 0) or self.step >= total:
                try:
                    record.update(task.eval_record())
                except NonFiniteError as exc:
                    raise DivergenceError(
                        f"training diverged after epoch {self.epoch + 1}: {exc}; "
                        f"{guard.kept(self.ckpt_path)}. {guard.ADVICE_TEXT}") from None
                if dist.main:
                    guard.check_record(record, f"after epoch {self.epoch + 1}", self.ckpt_path)
            if dist.main:
                task.end_epoch(self.epoch + 1)
            self.history.append(record)
            self.epoch, self.batch, self.stats = self.epoch + 1, 0, EpochStats()
            self.checkpoint(self.epoch, 0)
            if dist.main:
                self.write_metrics()
                shown = (f"test {record['test_accuracy']:.2%}" if "test_accuracy" in record
                         else "")
                bar.update(bar_task, description=f"epoch {self.epoch}/{n_epochs} {shown}")
            D.barrier(dist)

    def summary(self, t_start: float) -> dict[str, Any]:
        epochs = [h for h in self.history if "images" in h]  # not the every-N-steps events
        last = epochs[-1] if epochs else {}
        train_seconds = sum(h["seconds"] for h in epochs)
        summary = {
            "recipe": self.recipe.name, "run_dir": str(self.run_dir), "epochs": len(epochs),
            "steps": self.step, "device": str(self.dev), "world_size": self.dist.world,
            **self.task.summary(last), "result": self.task.headline(self.history),
            "wall_seconds": time.perf_counter() - t_start,
            "train_seconds": train_seconds,
            "train_images_per_second": sum(h["images"] for h in epochs)
            / max(train_seconds, 1e-9),
        }
        if self.dist.main:
            atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        summary["history"] = self.history
        return summary
