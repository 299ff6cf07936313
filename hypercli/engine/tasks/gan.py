"""``task: gan``: a generator and a discriminator trained against each other.

SNGAN's procedure (Miyato et al., ICLR 2018, §4 and Table 1; their chainer-gan-lib
``stdgan`` updater): Adam for each network (``gan.lr_g``, ``gan.lr_d``, ``gan.betas``);
every ``gan.n_dis`` steps open with one generator step, and every step is one
discriminator step on a batch of real images (from the recipe's data, scaled from [0, 1]
to [-1, 1]) and as many generated ones from fresh codes z ~ N(0, I). The adversarial
loss is ``gan.loss`` (``hypercli.gan.losses``). The recipe's ``regularizers`` act on the
discriminator only and enter its loss: MHE there is the MHE-GAN setup (Liu et al.,
NeurIPS 2018, §5.4; wy1iu/MHE ``MHE-GAN/sn-model``), whose energies are logged.

Logged per epoch: ``d_loss``, ``g_loss`` (means over the epoch's steps), ``d_real`` and
``d_fake`` (means of D(x) and D(G(z)) over the discriminator steps), ``d_accuracy`` (the
share of real images with D(x) > 0 and generated ones with D(G(z)) < 0), the regularizer
terms (``mhe/<layer>``, ``mhe/total``). After every epoch the generator, in eval mode,
draws ``gan.grid_samples`` images from one fixed set of codes into
``samples/epoch-NNN.png`` of the run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from hypercli.data import build_data
from hypercli.engine import distributed as D
from hypercli.engine import guard
from hypercli.engine.io import make_dirs, remove_stale_temps
from hypercli.engine.tasks.base import EpochStats, Task, regularized
from hypercli.engine.tasks.classify import build_regularizers, data_meta
from hypercli.errors import DivergenceError, HyperError
from hypercli.gan.model import build_gan
from hypercli.gan.sampling import fixed_noise, save_grid, to_unit
from hypercli.models import count_parameters
from hypercli.recipe import Recipe
from hypercli.registry import GAN_LOSSES, TASKS

SAMPLES_DIR = "samples"


def sample_grid_path(run_dir: Path, epoch: int) -> Path:
    """``<run_dir>/samples/epoch-NNN.png``: the grid drawn after epoch ``epoch`` (1-based)."""
    return Path(run_dir) / SAMPLES_DIR / f"epoch-{epoch:03d}.png"


@TASKS.register("gan")
class GanTask(Task):
    """A GAN (SNGAN by default): generator against discriminator, n_dis D steps per G step.

    Adam for each network; the recipe's regularizers (MHE) act on the discriminator.
    """

    networks = "the networks"

    def __init__(self, recipe: Recipe, dev: torch.device, dist: D.Dist, console) -> None:
        super().__init__(recipe, dev, dist, console)
        assert recipe.gan is not None  # the recipe schema fills it for task gan
        self.cfg = cfg = recipe.gan
        self.data = build_data(recipe.data, recipe.seed)
        self.meta = data_meta(self.data)
        self.loss = GAN_LOSSES.create(cfg.loss)
        self.model = build_gan(cfg, self.data.in_channels, self.data.image_size).to(dev)
        self.generator, self.discriminator = self.model.generator, self.model.discriminator
        self.model.generator = self.generator = self.sync_batchnorm(self.generator)
        self.regularizers = build_regularizers(recipe, self.discriminator)
        betas = tuple(cfg.betas)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_d, betas=betas)
        self.loader = self.data.train_loader(recipe.data, recipe.seed, dev, dist.rank,
                                             dist.world)
        self.g_net: nn.Module = self.generator  # DDP-wrapped in prepare() under torchrun
        self.d_net: nn.Module = self.discriminator
        self.grid_z = fixed_noise(cfg.grid_samples, cfg.z_dim, recipe.seed)  # (n, z_dim)

    def describe(self) -> str:
        return (f"generator {count_parameters(self.generator):,} and discriminator "
                f"{count_parameters(self.discriminator):,} parameters, {self.cfg.loss} loss, "
                f"n_dis {self.cfg.n_dis}, {len(self.data.train):,} training images")

    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(),
                "optimizer": {"generator": self.opt_g.state_dict(),
                              "discriminator": self.opt_d.state_dict()},
                "scheduler": {}}  # constant learning rates

    def load_state(self, state: dict[str, Any], path: Path,
                   changes: dict[str, tuple[Any, Any]]) -> None:
        opt = state["optimizer"]
        try:
            self.opt_g.load_state_dict(opt["generator"])
            self.opt_d.load_state_dict(opt["discriminator"])
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise HyperError(f"{path}: the optimizer states do not fit the recipe's GAN: "
                             f"{str(exc).strip()[:160]}") from None
        for opt, lr in ((self.opt_g, self.cfg.lr_g), (self.opt_d, self.cfg.lr_d)):
            for group in opt.param_groups:  # --resume --set gan.lr_g=... (constant rates)
                group["lr"] = lr

    def prepare(self) -> None:
        if self.dist.enabled:
            ids = [self.dev.index] if self.dev.type == "cuda" else None
            self.g_net = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)
            self.d_net = nn.parallel.DistributedDataParallel(self.discriminator,
                                                             device_ids=ids)
        if self.dist.main and self.run_dir is not None and (self.run_dir / SAMPLES_DIR).is_dir():
            remove_stale_temps(self.run_dir / SAMPLES_DIR, ["epoch-*.png"])  # a killed write's

    def _diverged(self, what: str, value: torch.Tensor, step: int) -> DivergenceError:
        per_epoch = len(self.loader)
        kept = (guard.kept(self.ckpt_path) if self.ckpt_path is not None
                else "no checkpoint was written yet")
        return DivergenceError(
            f"training diverged: {what} {float(value.detach())} at epoch "
            f"{step // per_epoch + 1}, step {step % per_epoch + 1}; {kept}. Lower gan.lr_d "
            "and gan.lr_g (--resume --set gan.lr_d=...), or add train.grad_clip")

    def _clip(self, net: nn.Module) -> None:
        if self.recipe.train.grad_clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), self.recipe.train.grad_clip)

    def step(self, x: torch.Tensor, y: torch.Tensor, stats: EpochStats, step: int) -> None:
        cfg, n = self.cfg, len(x)
        self.model.train()
        if step % cfg.n_dis == 0:  # a generator step opens each group of n_dis D steps
            z = torch.randn(n, cfg.z_dim, device=x.device)
            # the bare discriminator: its gradients are not needed here (nor reduced by DDP)
            g_loss = self.loss.generator(self.discriminator(self.g_net(z)))
            if not torch.isfinite(g_loss):
                raise self._diverged("generator loss", g_loss, step)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward(inputs=list(self.generator.parameters()))
            self._clip(self.generator)
            self.opt_g.step()
            stats.add("g_loss", float(g_loss.detach()))
            stats.add("g_steps", 1.0)
        real = x * 2.0 - 1.0  # [0, 1] -> [-1, 1], the generator's tanh range
        z = torch.randn(n, cfg.z_dim, device=x.device)
        with torch.no_grad():
            fake = self.generator(z)
        logits = self.d_net(torch.cat([real, fake]))  # one pass: one power iteration
        d_real, d_fake = logits[:n], logits[n:]
        d_loss = self.loss.discriminator(d_real, d_fake)
        total = regularized(d_loss, self.regularizers, stats)
        if not torch.isfinite(total):
            raise self._diverged("discriminator loss", total, step)
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self._clip(self.discriminator)
        self.opt_d.step()
        for _, reg in self.regularizers:
            reg.after_step(step + 1)
        d_real, d_fake = d_real.detach(), d_fake.detach()
        stats.add("d_loss", float(d_loss.detach()))
        stats.add("d_real", float(d_real.sum()))
        stats.add("d_fake", float(d_fake.sum()))
        stats.add("correct", float((d_real > 0).sum() + (d_fake < 0).sum()) / 2.0)
        stats.add("n", float(n))
        stats.add("steps", 1.0)

    def progress(self, stats: EpochStats) -> dict[str, float]:
        return {"loss": stats.s.get("d_loss", 0.0) / max(stats.s["steps"], 1.0),
                "acc": stats.mean("correct")}

    def epoch_record(self, stats: EpochStats, step: int) -> dict[str, Any]:
        dist = self.dist
        keys = sorted(k for k in stats.s if k != "seconds")
        sums = dict(zip(keys, D.all_reduce_sum([stats.s[k] for k in keys], self.dev, dist)))
        n, world = max(sums["n"], 1.0), dist.world
        steps, g_steps = max(stats.s["steps"], 1.0), max(stats.s.get("g_steps", 0.0), 1.0)
        record: dict[str, Any] = {
            "step": step,
            "d_loss": sums["d_loss"] / (steps * world),
            "g_loss": sums.get("g_loss", 0.0) / (g_steps * world),
            "d_real": sums["d_real"] / n, "d_fake": sums["d_fake"] / n,
            "d_accuracy": sums["correct"] / n, "g_steps": int(stats.s.get("g_steps", 0.0)),
            "lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"],
            "seconds": stats.s["seconds"], "images": sums["n"],
            "images_per_second": sums["n"] / max(stats.s["seconds"], 1e-9),
        }
        for k in keys:
            if "/" in k:  # regularizer logs, averaged over the epoch's D steps and ranks
                record[k] = sums[k] / (steps * world)
        return record

    def check_weights(self, where: str, ckpt_path: Path) -> None:
        guard.check_weights(self.model, where, ckpt_path)

    def end_epoch(self, epoch: int) -> None:
        if self.run_dir is None:
            return
        g = self.generator
        g.eval()
        with torch.no_grad():
            images = to_unit(g(self.grid_z.to(self.dev)).float()).cpu()
        g.train()
        make_dirs(self.run_dir / SAMPLES_DIR)
        save_grid(images, sample_grid_path(self.run_dir, epoch))

    def headline(self, history: list[dict[str, Any]]) -> str:
        last = next((h for h in reversed(history) if "d_loss" in h), {})
        if not last:
            return "no epoch finished"
        grid = (f", samples {sample_grid_path(self.run_dir, last['epoch'])}"
                if self.run_dir is not None else "")
        return (f"D loss {last['d_loss']:.4f}, G loss {last['g_loss']:.4f} (D(x) "
                f"{last['d_real']:.3f}, D(G(z)) {last['d_fake']:.3f}){grid}")

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        grid = (sample_grid_path(self.run_dir, last["epoch"])
                if self.run_dir is not None and "epoch" in last else None)
        return {
            "generator_parameters": count_parameters(self.generator),
            "discriminator_parameters": count_parameters(self.discriminator),
            **{k: last.get(k) for k in ("d_loss", "g_loss", "d_real", "d_fake", "d_accuracy")},
            "samples": str(grid) if grid is not None else None,  # the last epoch's grid
        }
