"""``train(recipe) -> metrics``: the training loop every command, test and notebook shares.

One run directory holds ``recipe.yaml`` (the resolved recipe), ``metrics.jsonl`` (one line
per epoch), ``checkpoint.pt`` (after every epoch, atomically; also on Ctrl-C and SIGTERM)
and ``summary.json``. Runs resume exactly from their checkpoint: the batch order and the
augmentation of every batch are seeded, and the RNG states are saved. Ctrl-C and SIGTERM
take effect between two steps (``hypercli.engine.stop``); one process at a time holds a
run directory (``hypercli.engine.lock``); non-finite weights stop the run and are never
checkpointed (``hypercli.engine.guard``); ``--resume --set`` applies or refuses each
change (``hypercli.engine.resume``).
Under ``torchrun`` the model is wrapped in DistributedDataParallel and rank 0 writes.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from hypercli.data import BatchLoader, Splits, build_data
from hypercli.engine import distributed as D
from hypercli.engine import guard
from hypercli.engine.checkpoint import (
    FILENAME,
    RESUME_KEYS,
    checkpoint_file,
    load_weights,
    read_checkpoint,
    require_keys,
    save_checkpoint,
)
from hypercli.engine.evaluate import evaluate
from hypercli.engine.io import atomic_write_text, make_dirs, remove_stale_temps
from hypercli.engine.lock import RunLock
from hypercli.engine.optim import build_optimizer, build_scheduler
from hypercli.engine.progress import training_progress
from hypercli.engine.resume import apply_optimizer_settings, check_changes, recipe_changes
from hypercli.engine.runs import mark_latest, new_run_dir
from hypercli.engine.stop import StopRequest
from hypercli.errors import DivergenceError, HyperError, NonFiniteError
from hypercli.models import Net, count_parameters, create_model
from hypercli.nn.regularizer import Regularizer
from hypercli.recipe import Recipe, ignored_settings, save_recipe
from hypercli.registry import REGULARIZERS


def data_meta(data: Splits) -> dict[str, Any]:
    """What a checkpoint records of its data to rebuild the model: ``image_size`` is ``S``
    for square images, ``[H, W]`` otherwise."""
    size = data.image_size
    return {"num_classes": data.num_classes, "in_channels": data.in_channels,
            "image_size": size if isinstance(size, int) else [int(v) for v in size],
            "mean": data.mean, "std": data.std, "class_names": data.class_names}


def _switch(value: bool | str, dev: torch.device) -> bool:
    """A ``true``/``false``/``"auto"`` recipe switch; ``auto`` means on CUDA only."""
    return dev.type == "cuda" if value == "auto" else bool(value)


def _native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (torch's own capability probes)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, p, lambda: False)() for p in probes)


def build_regularizers(recipe: Recipe, model: nn.Module) -> list[tuple[str, Regularizer]]:
    """``(log prefix, regularizer)`` for each recipe entry, attached to ``model``."""
    names = [cfg.name for cfg in recipe.regularizers]
    regs = []
    for i, cfg in enumerate(recipe.regularizers):
        reg = REGULARIZERS.create(cfg.name, **cfg.args)
        reg.attach(model)
        regs.append((cfg.name if names.count(cfg.name) == 1 else f"{cfg.name}{i}", reg))
    return regs


def build_adversary(recipe: Recipe, model: nn.Module):
    """The attack of ``train.adversarial`` (eps/alpha in the CLI's units: 1/255 for L-inf)."""
    adv = recipe.train.adversarial
    if adv is None:
        return None
    from hypercli.attacks import create_attack

    return create_attack(adv.method, model, eps=adv.eps, alpha=adv.alpha, steps=adv.steps,
                         random_start=adv.random_start)


RUN_FILES = [FILENAME, "metrics.jsonl", "summary.json", "recipe.yaml"]


class _Stop(Exception):
    """A stop request (signal) seen at a step boundary."""


class _EpochStats:
    """Running sums of one epoch (restored on a mid-epoch resume)."""

    def __init__(self, state: dict[str, float] | None = None) -> None:
        self.s: dict[str, float] = dict(state or {"loss": 0.0, "correct": 0.0, "n": 0.0,
                                                  "steps": 0.0, "seconds": 0.0})

    def add(self, key: str, value: float) -> None:
        self.s[key] = self.s.get(key, 0.0) + value


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
    tc = recipe.train

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
    data = build_data(recipe.data, recipe.seed)  # in memory or streamed from disk
    model: Net = create_model(recipe, data.num_classes, data.in_channels, data.image_size,
                              data.mean, data.std).to(dev)
    if _switch(tc.channels_last, dev):
        model = model.to(memory_format=torch.channels_last)
    if dist.enabled and tc.sync_batchnorm:
        if dev.type != "cuda":
            raise HyperError("train.sync_batchnorm needs CUDA (torch's SyncBatchNorm runs only "
                             "on GPUs); set train.sync_batchnorm=false on the CPU")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    regularizers = build_regularizers(recipe, model)
    optimizer = build_optimizer(model, recipe.optimizer)

    loader = data.train_loader(recipe.data, recipe.seed, dev, dist.rank, dist.world)
    steps_per_epoch = len(loader)
    total_steps = math.ceil(tc.epochs * steps_per_epoch)
    scheduler = build_scheduler(optimizer, recipe.schedule, steps_per_epoch, total_steps)

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
        return _train_locked(recipe, out_dir, resume, console, progress, t_start, dev, dist,
                             run_dir, data, model, regularizers, optimizer, scheduler, loader,
                             total_steps)
    finally:
        lock.release()


def _train_locked(recipe: Recipe, out_dir: str | Path | None, resume: bool, console: Console,
                  progress: bool, t_start: float, dev: torch.device, dist: D.Dist,
                  run_dir: Path, data: Splits, model: Net,
                  regularizers: list[tuple[str, Regularizer]],
                  optimizer: torch.optim.Optimizer,
                  scheduler: torch.optim.lr_scheduler.LambdaLR, loader: BatchLoader,
                  total_steps: int) -> dict[str, Any]:
    """The training loop proper, run while this process holds the run directory's lock."""
    tc = recipe.train
    ckpt_path = run_dir / FILENAME
    steps_per_epoch = len(loader)
    n_epochs = math.ceil(total_steps / steps_per_epoch)
    epoch, batch, step, history = 0, 0, 0, []
    stats = _EpochStats()
    if resume:
        state = read_checkpoint(ckpt_path)
        require_keys(state, ckpt_path, RESUME_KEYS)
        load_weights(model, state["model"], str(ckpt_path),
                     "the model of a run cannot change shape on resume; start a new run "
                     "with another --out")
        changes = recipe_changes(state["recipe"], recipe)
        check_changes(changes, f"--resume {run_dir}")
        try:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise HyperError(f"{ckpt_path}: the optimizer state does not fit the recipe: "
                             f"{str(exc).strip()[:160]}") from None
        epoch, batch, step = state["epoch"], state["batch"], state["step"]
        if changes:
            apply_optimizer_settings(optimizer, scheduler, recipe)
            if dist.main:
                shown = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items())
                console.print(f"resuming at step {step} with changed settings: {shown}")
                save_recipe(recipe, run_dir / "recipe.yaml")  # the recipe now in use
        history = list(state["history"])
        stats = _EpochStats(state["epoch_stats"])
        torch.set_rng_state(state["rng"]["torch"])
        if dev.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], dev)
    elif dist.main:
        save_recipe(recipe, run_dir / "recipe.yaml")
    if dist.main and out_dir is None:
        mark_latest(run_dir)

    bare = model
    net: nn.Module = model
    if dist.enabled:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if tc.compile:
        net = torch.compile(net)
    adversary = build_adversary(recipe, bare)
    amp = (torch.autocast(dev.type, dtype=torch.bfloat16)
           if _switch(tc.amp, dev) else nullcontext())
    if dist.main and dev.type == "cpu" and _switch(tc.amp, dev) and not _native_cpu_bf16():
        console.print("[yellow]warning:[/] train.amp: this CPU has no native bf16 (AVX512-BF16 "
                      "or AMX), so bf16 autocast is emulated and slow; set train.amp=false")

    def checkpoint(ep: int, b: int) -> None:
        if not dist.main:
            return
        guard.check_weights(bare, f"at epoch {ep + 1}, step {b}" if b else
                            f"after epoch {ep}", ckpt_path)
        save_checkpoint(ckpt_path, {
            "recipe": recipe.to_dict(), "data": data_meta(data),
            "model": bare.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "epoch": ep, "batch": b, "step": step,
            "history": history, "epoch_stats": stats.s,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None},
        })

    if dist.main:
        where = f"{dev}" + (f" x {dist.world} processes" if dist.enabled else "")
        console.print(f"[bold]{recipe.name}[/]: {count_parameters(bare):,} parameters, "
                      f"{len(data.train):,} training images, {where} -> {run_dir}")
    def stop_requested() -> bool:
        if not dist.enabled:
            return stop.requested
        return D.all_reduce_sum([float(stop.requested)], dev, dist)[0] > 0  # ranks agree

    bar = training_progress(console, enabled=progress and dist.main)
    bar.start()
    task = None
    stop = StopRequest().__enter__()
    try:
        while step < total_steps:
            if stop_requested():
                raise _Stop
            loader.set_epoch(epoch)
            # the steps of this epoch: to its end, or to the run's end (a resume with more
            # train.epochs after a fractional last epoch continues at the next epoch)
            n_steps = batch + min(steps_per_epoch - batch, total_steps - step)
            task = bar.add_task(f"epoch {epoch + 1}/{n_epochs}", total=n_steps, completed=batch,
                                loss=0.0, acc=0.0, ips=0.0, wait=0.0)
            net.train()
            t0 = t_data = time.perf_counter()
            data_wait = 0.0  # seconds spent waiting for the loader in this epoch
            for x, y in loader.batches(batch):
                data_wait += time.perf_counter() - t_data
                if batch >= n_steps:
                    break
                if adversary is not None:
                    k = max(1, round(recipe.train.adversarial.fraction * len(x)))
                    x = torch.cat([adversary(x[:k], y[:k]).detach(), x[k:]])
                with amp:
                    loss, logits = net(x, y)
                total = loss
                for prefix, reg in regularizers:
                    term, logs = reg.loss()
                    if term is not None:
                        total = total + term
                    for key, v in logs.items():
                        stats.add(f"{prefix}/{key}", float(v))
                if not torch.isfinite(total):
                    kept = (f"the last good checkpoint {ckpt_path} is kept" if ckpt_path.exists()
                            else "no checkpoint was written yet")
                    raise DivergenceError(
                        f"training diverged: loss {float(total.detach())} at epoch {epoch + 1}, "
                        f"step {batch + 1}; {kept}. Lower optimizer.lr, raise the A-Softmax "
                        "lambda_min, or add train.grad_clip")
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                if tc.grad_clip is not None:
                    nn.utils.clip_grad_norm_(bare.parameters(), tc.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                batch += 1
                for _, reg in regularizers:
                    reg.after_step(step)
                stats.add("loss", float(loss.detach()) * len(y))
                stats.add("correct", float((logits.argmax(1) == y).sum()))
                stats.add("n", float(len(y)))
                stats.add("steps", 1.0)
                if dist.main and (batch % 5 == 0 or batch == n_steps):
                    el = stats.s["seconds"] + time.perf_counter() - t0
                    bar.update(task, completed=batch, loss=stats.s["loss"] / stats.s["n"],
                               acc=stats.s["correct"] / stats.s["n"],
                               ips=stats.s["n"] * dist.world / max(el, 1e-9),
                               wait=data_wait / max(time.perf_counter() - t0, 1e-9))
                if batch < n_steps and stop_requested():  # a step boundary inside the epoch
                    stats.add("seconds", time.perf_counter() - t0)
                    raise _Stop
                t_data = time.perf_counter()
            stats.add("seconds", time.perf_counter() - t0)
            record = _epoch_record(epoch, stats, step, optimizer, bare, dist, dev)
            record["data_wait"] = data_wait / max(time.perf_counter() - t0, 1e-9)
            skipped = D.all_reduce_sum([float(getattr(loader, "skipped", 0))], dev, dist)[0]
            if skipped:
                record["skipped_corrupt"] = int(skipped)
                if dist.main:
                    console.print(f"[yellow]epoch {epoch + 1}: skipped {int(skipped)} corrupt "
                                  "images[/] (data.skip_corrupt)")
            if dist.main:
                guard.check_weights(bare, f"after epoch {epoch + 1}", ckpt_path)
            if tc.eval_every and ((epoch + 1) % tc.eval_every == 0) or step >= total_steps:
                if dist.main:
                    try:
                        record.update(_eval_record(bare, data, dev, recipe))
                    except NonFiniteError as exc:
                        raise DivergenceError(f"training diverged after epoch {epoch + 1}: "
                                              f"{exc}; {guard.kept(ckpt_path)}. "
                                              f"{guard.ADVICE_TEXT}") from None
                    guard.check_record(record, f"after epoch {epoch + 1}", ckpt_path)
            history.append(record)
            epoch, batch, stats = epoch + 1, 0, _EpochStats()
            checkpoint(epoch, 0)
            if dist.main:
                _write_metrics(run_dir, history)
                bar.update(task, description=f"epoch {epoch}/{n_epochs} "
                           + (f"test {record['test_accuracy']:.2%}" if "test_accuracy" in record
                              else ""))
            D.barrier(dist)
    except (KeyboardInterrupt, _Stop):
        bar.stop()
        checkpoint(epoch, batch)
        if dist.main:
            what = stop.name or "SIGINT"
            console.print(f"[yellow]stopped by {what}[/] at epoch {epoch + 1}, step {batch}; "
                          f"checkpoint saved. Resume with: hyper train --resume --out {run_dir}")
        return {"interrupted": True, "run_dir": str(run_dir), "epoch": epoch, "batch": batch,
                "signal": stop.name or "SIGINT", "exit_code": stop.exit_code}
    finally:
        bar.stop()
        stop.__exit__(None, None, None)

    last = history[-1] if history else {}
    train_seconds = sum(h["seconds"] for h in history)
    summary = {
        "recipe": recipe.name, "run_dir": str(run_dir), "epochs": len(history),
        "steps": step, "device": str(dev), "world_size": dist.world,
        "parameters": count_parameters(bare),
        "test_accuracy": last.get("test_accuracy"), "test_loss": last.get("test_loss"),
        **({"test_top5_accuracy": last["test_top5_accuracy"]}
           if "test_top5_accuracy" in last else {}),
        "val_accuracy": last.get("val_accuracy"),
        "train_accuracy": last.get("train_accuracy"), "train_loss": last.get("train_loss"),
        "wall_seconds": time.perf_counter() - t_start,
        "train_seconds": train_seconds,
        "train_images_per_second": sum(h["images"] for h in history) / max(train_seconds, 1e-9),
    }
    if dist.main:
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    summary["history"] = history
    return summary


def _epoch_record(epoch: int, stats: _EpochStats, step: int, optimizer, model: Net,
                  dist: D.Dist, dev: torch.device) -> dict[str, Any]:
    keys = sorted(k for k in stats.s if k not in ("seconds",))
    sums = dict(zip(keys, D.all_reduce_sum([stats.s[k] for k in keys], dev, dist)))
    n, steps = max(sums["n"], 1.0), max(stats.s["steps"], 1.0)
    record: dict[str, Any] = {
        "epoch": epoch + 1, "step": step,
        "train_loss": sums["loss"] / n, "train_accuracy": sums["correct"] / n,
        "lr": optimizer.param_groups[0]["lr"], "seconds": stats.s["seconds"],
        "images": sums["n"], "images_per_second": sums["n"] / max(stats.s["seconds"], 1e-9),
    }
    for k in keys:
        if "/" in k:  # regularizer logs, averaged over the epoch's steps and ranks
            record[k] = sums[k] / (steps * dist.world)
    for k, v in model.head.logs().items():
        record[f"head/{k}"] = v
    return record


def _eval_record(model: Net, data: Splits, dev: torch.device, recipe: Recipe) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bs = recipe.data.eval_batch_size
    tta = recipe.eval.tta
    test = evaluate(model, data.test, dev, bs, data.num_classes, tta)
    out["test_accuracy"], out["test_loss"] = test["accuracy"], test["loss"]
    if "top5_accuracy" in test:
        out["test_top5_accuracy"] = test["top5_accuracy"]
    if data.val is not None:
        val = evaluate(model, data.val, dev, bs, data.num_classes, tta)
        out["val_accuracy"], out["val_loss"] = val["accuracy"], val["loss"]
        if "top5_accuracy" in val:
            out["val_top5_accuracy"] = val["top5_accuracy"]
    return out


def _write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_text(run_dir / "metrics.jsonl",
                      "".join(json.dumps(h) + "\n" for h in history))
