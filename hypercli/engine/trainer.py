"""``train(recipe) -> metrics``: the training loop every command, test and notebook shares.

One run directory holds ``recipe.yaml`` (the resolved recipe), ``metrics.jsonl`` (one line
per epoch), ``checkpoint.pt`` (after every epoch, atomically; also on Ctrl-C) and
``summary.json``. Runs resume exactly from their checkpoint: the batch order and the
augmentation of every batch are seeded, and the RNG states are saved.
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

from hypercli.data import BatchLoader, Splits, load_data
from hypercli.engine import distributed as D
from hypercli.engine.checkpoint import FILENAME, read_checkpoint, save_checkpoint
from hypercli.engine.evaluate import evaluate
from hypercli.engine.io import atomic_write_text
from hypercli.engine.optim import build_optimizer, build_scheduler
from hypercli.engine.progress import training_progress
from hypercli.engine.runs import mark_latest, new_run_dir
from hypercli.errors import DivergenceError, HyperError
from hypercli.models import Net, count_parameters, create_model
from hypercli.nn.regularizer import Regularizer
from hypercli.recipe import Recipe, save_recipe
from hypercli.registry import REGULARIZERS


def data_meta(data: Splits) -> dict[str, Any]:
    return {"num_classes": data.num_classes, "in_channels": data.in_channels,
            "image_size": data.image_size, "mean": data.mean, "std": data.std,
            "class_names": data.class_names}


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
    if not resume and dist.main and ckpt_path.exists():
        raise HyperError(f"{run_dir} already holds a run; add --resume to continue it "
                         "or choose another --out")

    torch.manual_seed(recipe.seed)
    data = load_data(recipe.data, recipe.seed)
    model: Net = create_model(recipe, data.num_classes, data.in_channels, data.image_size,
                              data.mean, data.std).to(dev)
    if dev.type == "cuda" and tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if dist.enabled and tc.sync_batchnorm:
        if dev.type != "cuda":
            raise HyperError("train.sync_batchnorm needs CUDA (torch's SyncBatchNorm runs only "
                             "on GPUs); set train.sync_batchnorm=false on the CPU")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    regularizers = build_regularizers(recipe, model)
    optimizer = build_optimizer(model, recipe.optimizer)

    loader = BatchLoader(data.train, recipe.data.batch_size, shuffle=True,
                         augment=tuple(recipe.data.augment), pad=recipe.data.pad,
                         seed=recipe.seed, device=dev, on_device=recipe.data.on_device,
                         rank=dist.rank, world=dist.world, drop_last=False)
    steps_per_epoch = len(loader)
    total_steps = math.ceil(tc.epochs * steps_per_epoch)
    n_epochs = math.ceil(total_steps / steps_per_epoch)
    scheduler = build_scheduler(optimizer, recipe.schedule, steps_per_epoch, total_steps)

    epoch, batch, step, history = 0, 0, 0, []
    stats = _EpochStats()
    if resume:
        state = read_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, batch, step = state["epoch"], state["batch"], state["step"]
        history = list(state["history"])
        stats = _EpochStats(state["epoch_stats"])
        torch.set_rng_state(state["rng"]["torch"])
        if dev.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], dev)
    elif dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
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
    amp = (torch.autocast("cuda", dtype=torch.bfloat16)
           if dev.type == "cuda" and tc.amp else nullcontext())

    def checkpoint(ep: int, b: int) -> None:
        if not dist.main:
            return
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
    bar = training_progress(console, enabled=progress and dist.main)
    bar.start()
    task = None
    try:
        while step < total_steps:
            loader.set_epoch(epoch)
            n_steps = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)
            task = bar.add_task(f"epoch {epoch + 1}/{n_epochs}", total=n_steps, completed=batch,
                                loss=0.0, acc=0.0, ips=0.0)
            net.train()
            t0 = time.perf_counter()
            for x, y in loader.batches(batch):
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
                               ips=stats.s["n"] * dist.world / max(el, 1e-9))
            stats.add("seconds", time.perf_counter() - t0)
            record = _epoch_record(epoch, stats, step, optimizer, bare, dist, dev)
            if tc.eval_every and ((epoch + 1) % tc.eval_every == 0) or step >= total_steps:
                if dist.main:
                    record.update(_eval_record(bare, data, dev, recipe))
            history.append(record)
            epoch, batch, stats = epoch + 1, 0, _EpochStats()
            checkpoint(epoch, 0)
            if dist.main:
                _write_metrics(run_dir, history)
                bar.update(task, description=f"epoch {epoch}/{n_epochs} "
                           + (f"test {record['test_accuracy']:.2%}" if "test_accuracy" in record
                              else ""))
            D.barrier(dist)
    except KeyboardInterrupt:
        bar.stop()
        stats.add("seconds", 0.0)
        checkpoint(epoch, batch)
        if dist.main:
            console.print(f"[yellow]interrupted[/] at epoch {epoch + 1}, step {batch}; "
                          f"checkpoint saved. Resume with: hyper train --resume --out {run_dir}")
        return {"interrupted": True, "run_dir": str(run_dir), "epoch": epoch, "batch": batch}
    finally:
        bar.stop()

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
    test = evaluate(model, data.test, dev, bs, data.num_classes)
    out["test_accuracy"], out["test_loss"] = test["accuracy"], test["loss"]
    if "top5_accuracy" in test:
        out["test_top5_accuracy"] = test["top5_accuracy"]
    if data.val is not None:
        val = evaluate(model, data.val, dev, bs, data.num_classes)
        out["val_accuracy"], out["val_loss"] = val["accuracy"], val["loss"]
        if "top5_accuracy" in val:
            out["val_top5_accuracy"] = val["top5_accuracy"]
    return out


def _write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_text(run_dir / "metrics.jsonl",
                      "".join(json.dumps(h) + "\n" for h in history))
