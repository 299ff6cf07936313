"""``task: gan`` trains through the one loop: losses move, metrics and energies are logged,
a sample grid is written each epoch, and the checkpoint holds both networks."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

from hypercli.engine import distributed as D
from hypercli.engine.tasks.base import EpochStats
from hypercli.recipe import build_recipe
from hypercli.registry import TASKS
from tests.gan.conftest import gan_tree


def _history(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_gan_trains_and_both_losses_move(gan_run):
    run, summary = gan_run
    hist = _history(run)
    assert [h["epoch"] for h in hist] == [1, 2] and summary["steps"] == 16
    for h in hist:
        assert h["g_steps"] == 8  # n_dis 1: one generator step per discriminator step
        for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_accuracy"):
            assert math.isfinite(h[key]), (key, h)
    first, last = hist[0], hist[-1]
    assert abs(last["d_loss"] - first["d_loss"]) > 0.05  # the two players learn
    assert abs(last["g_loss"] - first["g_loss"]) > 0.05
    assert last["d_real"] - last["d_fake"] > first["d_real"] - first["d_fake"]  # D separates
    assert summary["d_loss"] == last["d_loss"] and summary["g_loss"] == last["g_loss"]


def test_the_checkpoint_holds_both_networks_and_both_optimizers(gan_run):
    from hypercli.engine import read_checkpoint

    run, _ = gan_run
    state = read_checkpoint(run)
    keys = state["model"].keys()
    assert any(k.startswith("generator.") for k in keys)
    assert any(k.startswith("discriminator.") and k.endswith("_u") for k in keys)  # SN's u
    assert set(state["optimizer"]) == {"generator", "discriminator"}
    assert state["recipe"]["task"] == "gan" and state["epoch"] == 2


def test_mhe_energies_of_the_discriminator_are_logged(gan_run):
    run, _ = gan_run
    convs = [f"mhe/convs.{i}" for i in range(5)]  # 3 widths: 5 convolutions; fc has 1 unit
    for h in _history(run):
        assert all(math.isfinite(h[k]) for k in [*convs, "mhe/total"]), h
        assert not any(k.startswith("mhe/fc") for k in h)
        # s = 0 with weight 1 per layer: the total is the sum of the layer energies
        assert h["mhe/total"] == pytest.approx(sum(h[k] for k in convs), rel=1e-6)


def _log_energy(w: torch.Tensor) -> float:
    """Mean over pairs i < j of -log(2 - 2 <ŵ_i, ŵ_j>), ŵ = w / sqrt(||w||² + 1e-4), one pair
    at a time in float64 (MHE Eq. 1, s = 0, as the authors' code writes ||ŵ_i - ŵ_j||²)."""
    rows = w.detach().double().reshape(w.shape[0], -1)
    unit = [r / math.sqrt(float(r @ r) + 1e-4) for r in rows]
    pairs = list(itertools.combinations(unit, 2))
    return sum(-math.log(2.0 - 2.0 * float(a @ b)) for a, b in pairs) / len(pairs)


def _task(regularizers):
    torch.manual_seed(0)
    dev = torch.device("cpu")
    recipe = build_recipe(gan_tree(regularizers=regularizers))
    return TASKS.get("gan")(recipe, dev, D.setup(dev), Console(stderr=True))


def test_the_logged_energy_is_that_of_the_weights_before_spectral_norm():
    task = _task([{"name": "mhe", "args": {"s": "0", "layers": "hidden"}}])
    d = task.discriminator
    before = [m.parametrizations.weight.original.detach().clone() for m in d.convs]
    stats = EpochStats()
    batches = task.loader.batches(0)
    x, y = next(batches)
    task.step(x, y, stats, 0)  # the energy enters the D loss before D's update
    for i, w in enumerate(before):
        assert stats.s[f"mhe/convs.{i}"] == pytest.approx(_log_energy(w), rel=1e-5), i
    plain = _task([])
    plain.step(x, y, EpochStats(), 0)
    for a, b in zip(d.convs, plain.discriminator.convs, strict=True):  # MHE's gradient counts
        assert not torch.equal(a.parametrizations.weight.original,
                               b.parametrizations.weight.original)
    stats = EpochStats()
    now = d.convs[2].parametrizations.weight.original.detach().clone()
    task.step(*next(batches), stats, 1)  # the regularizer follows the updated weights
    assert stats.s["mhe/convs.2"] == pytest.approx(_log_energy(now), rel=1e-5)
    assert abs(_log_energy(now) - _log_energy(before[2])) > 1e-4


def test_a_sample_grid_per_epoch_with_the_right_pixel_size(gan_run):
    run, summary = gan_run
    grids = sorted(p.name for p in (run / "samples").iterdir())
    assert grids == ["epoch-001.png", "epoch-002.png"]
    img = Image.open(run / "samples" / "epoch-002.png")
    # 16 samples of 16 x 16 px: a 4 x 4 grid with 2 px borders: 4 * (16 + 2) + 2 px a side
    assert img.size == (74, 74) and img.mode == "L"
    assert summary["samples"] == str(run / "samples" / "epoch-002.png")
    first = np.asarray(Image.open(run / "samples" / "epoch-001.png"))
    assert not np.array_equal(first, np.asarray(img))  # the generator changed in between


def test_n_dis_steps_of_d_per_step_of_g(tmp_path):
    from hypercli.engine import train

    tree = gan_tree(gan={"n_dis": 3}, train={"epochs": 1, "device": "cpu"})
    summary = train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    (h,) = summary["history"]
    assert h["step"] == 8 and h["g_steps"] == 3  # G steps open steps 0, 3 and 6


def test_classifier_settings_a_gan_ignores_are_warned(tmp_path):
    from hypercli.recipe import ignored_settings

    recipe = build_recipe(gan_tree(optimizer={"lr": 0.5}, train={"amp": True}))
    lines = ignored_settings(recipe)
    assert len(lines) == 2
    assert "optimizer.lr=0.5 has no effect with task gan" in lines[0]
    assert "train.amp=true has no effect with task gan" in lines[1]
    assert ignored_settings(build_recipe(gan_tree())) == []
