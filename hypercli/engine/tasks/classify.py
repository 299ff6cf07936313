"""``task: classify`` (the default): a margin-head classifier, optionally with regularizers
(MHE), adversarial training and test-time augmentation; evaluation on the test and
validation splits."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hypercli.data import Splits, build_data
from hypercli.engine import distributed as D
from hypercli.engine import guard
from hypercli.engine.evaluate import evaluate
from hypercli.engine.optim import build_optimizer, build_scheduler
from hypercli.engine.resume import apply_optimizer_settings
from hypercli.engine.tasks.base import EpochStats, Task, regularized
from hypercli.errors import DivergenceError, HyperError
from hypercli.models import Net, count_parameters, create_model
from hypercli.nn.regularizer import Regularizer
from hypercli.recipe import Recipe
from hypercli.registry import REGULARIZERS, TASKS


def data_meta(data: Splits) -> dict[str, Any]:
    """What a checkpoint records of its data to rebuild the model: ``image_size`` is ``S``
    for square images, ``[H, W]`` otherwise."""
    size = data.image_size
    return {"num_classes": data.num_classes, "in_channels": data.in_channels,
            "image_size": size if isinstance(size, int) else [int(v) for v in size],
            "mean": data.mean, "std": data.std, "class_names": data.class_names}


def switch(value: bool | str, dev: torch.device) -> bool:
    """A ``true``/``false``/``"auto"`` recipe switch; ``auto`` means on CUDA only."""
    return dev.type == "cuda" if value == "auto" else bool(value)


def native_cpu_bf16() -> bool:
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


def divergence(loss: torch.Tensor, epoch_step: str, ckpt_path: Path | None) -> DivergenceError:
    kept = guard.kept(ckpt_path) if ckpt_path is not None else "no checkpoint was written yet"
    return DivergenceError(
        f"training diverged: loss {float(loss.detach())} at {epoch_step}; {kept}. Lower "
        "optimizer.lr, raise the A-Softmax lambda_min, or add train.grad_clip")


@TASKS.register("classify")
class ClassifyTask(Task):
    """Classification with a margin head (the default kind of run)."""

    def __init__(self, recipe: Recipe, dev: torch.device, dist: D.Dist, console) -> None:
        super().__init__(recipe, dev, dist, console)
        tc = recipe.train
        # in memory or streamed from disk; a face set scored by eval.verify needs no test split
        self.data = build_data(recipe.data, recipe.seed, require_test=not recipe.eval.verify)
        self.meta = data_meta(self.data)
        self.model: Net = create_model(recipe, self.data.num_classes, self.data.in_channels,
                                       self.data.image_size, self.data.mean,
                                       self.data.std).to(dev)
        if switch(tc.channels_last, dev):
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model = self.sync_batchnorm(self.model)
        self.pfc = None  # PartialFC: the head's class centers sharded over the ranks
        self.backbone: nn.Module = self.model
        if recipe.loss.partial_fc:
            self._shard_head()
        self.regularizers = build_regularizers(recipe, self.model)
        self.optimizer = build_optimizer(self.model, recipe.optimizer)
        self.loader = self.data.train_loader(recipe.data, recipe.seed, dev, dist.rank,
                                             dist.world)
        self.scheduler = build_scheduler(self.optimizer, recipe.schedule, len(self.loader),
                                         self.total_steps)
        self.verify_sets = self._load_verify_sets() if dist.main else []
        self.net: nn.Module = self.model
        self.adversary = None
        self.amp: Any = nullcontext()
        self.ckpt_path: Path | None = None

    def _shard_head(self) -> None:
        """Keep this rank's rows of the head (``hypercli.losses.partial_fc``): the model keeps
        a plain ``Net``'s keys (its state dict holds the whole matrix), only the backbone
        goes into DDP."""
        from hypercli.losses.partial_fc import shard

        if self.recipe.train.adversarial is not None:
            raise HyperError("train.adversarial needs the whole classifier in every process; "
                             "it does not combine with loss.partial_fc")
        if self.recipe.train.compile:
            raise HyperError("train.compile does not combine with loss.partial_fc yet; set "
                             "train.compile=false")
        m, dist = self.model, self.dist
        self.backbone, self.pfc = shard(m, dist.rank, dist.world, self.recipe.loss.sample_rate,
                                        seed=self.recipe.seed)
        self.model = Net(m.normalize, m.body, self.pfc, m.embed)  # type: ignore[arg-type]

    def _load_verify_sets(self) -> list[tuple[Any, Any]]:
        """``(eval.verify entry, decoded VerificationSet)`` pairs, loaded once at the start
        so that a missing file fails before training. A relative path is looked up under
        ``data.root`` first (insightface ships lfw.bin beside train.rec), then here."""
        from hypercli.verification import load_set

        def where(path: str | None) -> str | None:
            if path is None or Path(path).is_absolute():
                return path
            root = self.recipe.data.root
            if root is not None and (Path(root).expanduser() / path).exists():
                return str(Path(root).expanduser() / path)
            return path

        out = []
        for i, cfg in enumerate(self.recipe.eval.verify):
            path = where(cfg.path)
            if not Path(path).exists():
                raise HyperError(f"eval.verify.{i}.path {cfg.path} does not exist (here or under "
                                 f"data.root); set it with --set eval.verify.{i}.path=FILE, or "
                                 "--set 'eval.verify=[]' to train without it")
            out.append((cfg, load_set(path, where(cfg.images), channels=self.data.in_channels,
                                      name=cfg.name)))
        names = [vset.name for _, vset in out]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise HyperError(f"eval.verify: two sets are named {twice[0]!r} and would overwrite "
                             "each other's verify/<name>/... metrics; give each a name: "
                             "(eval.verify.N.name)")
        return out

    def verify_record(self) -> dict[str, Any]:
        """``verify/<set>/<metric>`` of every ``eval.verify`` set (all ranks call it; the main
        rank scores): accuracy ± std, threshold, XNorm, TAR@FAR, EER, AUC, the protocol."""
        if not self.recipe.eval.verify:
            return {}
        model = self.eval_model()
        if not self.dist.main:
            return {}
        from hypercli.verification import verify

        size = self.data.image_size
        hw = (size, size) if isinstance(size, int) else tuple(size)
        out: dict[str, Any] = {}
        for cfg, vset in self.verify_sets:
            r = verify(model, vset, cfg.protocol, self.dev, self.recipe.data.eval_batch_size,
                       input_shape=(self.data.in_channels, *hw))
            for k, v in r.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) or k == "protocol":
                    out[f"verify/{vset.name}/{k}"] = v
        return out

    def after_step(self, step: int) -> dict[str, Any] | None:
        every = self.recipe.eval.verify_every
        if not every or step % every or step >= self.total_steps:  # the end: eval_record
            return None
        return self.verify_record()

    def eval_model(self) -> Net:
        """The model to evaluate; with PartialFC a plain ``Net`` with the gathered head (a
        collective: every rank calls it)."""
        if self.pfc is None:
            return self.model
        m = self.model
        return Net(m.normalize, m.body, self.pfc.to_head(), m.embed)

    def describe(self) -> str:
        return (f"{count_parameters(self.model):,} parameters, {len(self.data.train):,} "
                "training images")

    def state(self) -> dict[str, Any]:
        optimizer = (self.optimizer.state_dict() if self.pfc is None else
                     self.pfc.gather_optimizer_state(self.optimizer))  # the whole matrix's
        return {"model": self.model.state_dict(), "optimizer": optimizer,
                "scheduler": self.scheduler.state_dict()}

    def load_state(self, state: dict[str, Any], path: Path,
                   changes: dict[str, tuple[Any, Any]]) -> None:
        try:
            if self.pfc is None:
                self.optimizer.load_state_dict(state["optimizer"])
            else:  # this rank's rows of the whole matrix's momentum
                self.pfc.load_optimizer_state(self.optimizer, state["optimizer"])
                self.pfc.sample_step.fill_(int(state["step"]))
            self.scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise HyperError(f"{path}: the optimizer state does not fit the recipe: "
                             f"{str(exc).strip()[:160]}") from None
        if changes:
            apply_optimizer_settings(self.optimizer, self.scheduler, self.recipe)

    def prepare(self) -> None:
        tc, dev = self.recipe.train, self.dev
        self.net = self.model if self.pfc is None else self.backbone
        if self.dist.enabled:  # with PartialFC the backbone only: W is never all-reduced
            self.net = nn.parallel.DistributedDataParallel(
                self.net, device_ids=[dev.index] if dev.type == "cuda" else None)
        if tc.compile:
            self.net = torch.compile(self.net)
        self.adversary = build_adversary(self.recipe, self.model)
        if switch(tc.amp, dev):
            self.amp = torch.autocast(dev.type, dtype=torch.bfloat16)
            if self.dist.main and dev.type == "cpu" and not native_cpu_bf16():
                self.console.print(
                    "[yellow]warning:[/] train.amp: this CPU has no native bf16 (AVX512-BF16 "
                    "or AMX), so bf16 autocast is emulated and slow; set train.amp=false")

    def step(self, x: torch.Tensor, y: torch.Tensor, stats: EpochStats, step: int) -> None:
        tc = self.recipe.train
        if self.adversary is not None:
            k = max(1, round(tc.adversarial.fraction * len(x)))
            x = torch.cat([self.adversary(x[:k], y[:k]).detach(), x[k:]])
        self.net.train()
        with self.amp:
            if self.pfc is None:
                loss, logits = self.net(x, y)
            else:  # the softmax runs across the ranks' shards; no rank has all logits
                f = self.net(x)
                loss = self.pfc(f, y)
                logits = self.pfc.head.logits(f.detach()) if self.dist.world == 1 else None
        total = regularized(loss, self.regularizers, stats)
        if not torch.isfinite(total):
            per_epoch = len(self.loader)
            raise divergence(total, f"epoch {step // per_epoch + 1}, step {step % per_epoch + 1}",
                             self.ckpt_path)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if tc.grad_clip is not None and self.pfc is not None:
            from hypercli.losses.partial_fc import clip_grad_norm_

            clip_grad_norm_(self.model.parameters(), tc.grad_clip, self.pfc)  # whole norm
        elif tc.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        for _, reg in self.regularizers:
            reg.after_step(step + 1)
        stats.add("loss", float(loss.detach()) * len(y))
        if logits is not None:
            stats.add("correct", float((logits.argmax(1) == y).sum()))
        stats.add("n", float(len(y)))
        stats.add("steps", 1.0)

    def epoch_record(self, stats: EpochStats, step: int) -> dict[str, Any]:
        dist = self.dist
        keys = sorted(k for k in stats.s if k not in ("seconds",))
        sums = dict(zip(keys, D.all_reduce_sum([stats.s[k] for k in keys], self.dev, dist)))
        n, steps = max(sums["n"], 1.0), max(stats.s["steps"], 1.0)
        record: dict[str, Any] = {
            "step": step, "train_loss": sums["loss"] / n,
            # None with PartialFC on several ranks: no rank holds all logits
            "train_accuracy": sums["correct"] / n if "correct" in sums else None,
            "lr": self.optimizer.param_groups[0]["lr"], "seconds": stats.s["seconds"],
            "images": sums["n"],
            "images_per_second": sums["n"] / max(stats.s["seconds"], 1e-9),
        }
        for k in keys:
            if "/" in k:  # regularizer logs, averaged over the epoch's steps and ranks
                record[k] = sums[k] / (steps * dist.world)
        for k, v in self.model.head.logs().items():
            record[f"head/{k}"] = v
        return record

    def check_weights(self, where: str, ckpt_path: Path) -> None:
        guard.check_weights(self.model, where, ckpt_path)

    def eval_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        model = self.eval_model()
        if not self.dist.main:
            self.verify_record()  # its collective part
            return out
        data, recipe = self.data, self.recipe
        bs, tta = recipe.data.eval_batch_size, recipe.eval.tta
        for name, split in (("test", data.test), ("val", data.val)):
            if split is None:
                continue
            r = evaluate(model, split, self.dev, bs, data.num_classes, tta)
            out[f"{name}_accuracy"], out[f"{name}_loss"] = r["accuracy"], r["loss"]
            if "top5_accuracy" in r:
                out[f"{name}_top5_accuracy"] = r["top5_accuracy"]
        out.update(self.verify_record())
        return out

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        return {
            "parameters": count_parameters(self.model),
            "test_accuracy": last.get("test_accuracy"), "test_loss": last.get("test_loss"),
            **({"test_top5_accuracy": last["test_top5_accuracy"]}
               if "test_top5_accuracy" in last else {}),
            "val_accuracy": last.get("val_accuracy"),
            "train_accuracy": last.get("train_accuracy"), "train_loss": last.get("train_loss"),
        }

    def headline(self, history: list[dict[str, Any]]) -> str:
        last = next((h for h in reversed(history) if "images" in h), {})
        parts = []
        if last.get("test_accuracy") is not None:
            parts.append(f"test accuracy {last['test_accuracy']:.2%} "
                         f"(loss {last['test_loss']:.4f})")
        verified = next((h for h in reversed(history)
                         if any(k.startswith("verify/") for k in h)), {})
        for k, v in verified.items():
            if k.startswith("verify/") and k.endswith("/accuracy"):
                name = k[len("verify/"):-len("/accuracy")]
                protocol = verified.get(f"verify/{name}/protocol", "")
                parts.append(f"{name} {v:.2%} ({protocol})")
        return ", ".join(parts) or "no evaluation"
