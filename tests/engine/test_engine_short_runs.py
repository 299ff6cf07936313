"""Every schedule and warm-up works for any number of steps from 1 up (closed forms)."""

from __future__ import annotations

import math

import pytest

from hypercli.engine import train
from hypercli.engine.optim import lr_factor
from hypercli.recipe import ScheduleConfig, build_recipe
from tests.conftest import tiny_tree

END = 1 / 25 / 1e4  # one-cycle's final factor


def _down(t):  # one-cycle's cosine from the peak 1 to END, t in [0, 1]
    return END + (1 - END) / 2 * (math.cos(math.pi * t) + 1)


@pytest.mark.parametrize("total, expected", [
    (1, [1.0]),
    (2, [1.0, END]),
    (3, [1.0, _down(1 / 2), END]),
    (4, [1.0, _down(1 / 3), _down(2 / 3), END]),  # pct_start x 4 = 1: was 0 / 0
])
def test_onecycle_short_runs(total, expected):
    cfg = ScheduleConfig(name="onecycle", pct_start=0.25)
    got = [lr_factor(s, cfg, 4, total) for s in range(total)]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("total", [1, 2, 3, 4])
def test_other_schedules_short_runs(total):
    steps = range(total)
    const = ScheduleConfig(name="constant")
    assert [lr_factor(s, const, 1, total) for s in steps] == [1.0] * total
    cos = ScheduleConfig(name="cosine")
    assert [lr_factor(s, cos, 1, total) for s in steps] == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * s / total)) for s in steps])
    multi = ScheduleConfig(name="multistep", milestones=[1.0], gamma=0.1)  # 2 steps per epoch
    assert [lr_factor(s, multi, 2, total) for s in steps] == pytest.approx(
        [1.0 if s < 2 else 0.1 for s in steps])
    for name in ("constant", "multistep", "cosine"):
        for warm in (0.5, 1.0, 3.0):  # shorter than a step, one step, longer than the run
            cfg = ScheduleConfig(name=name, warmup_epochs=warm)
            f = [lr_factor(s, cfg, 1, total) for s in steps]
            assert all(0 < x <= 1 for x in f), (name, warm, f)
            assert f[0] == pytest.approx(min(1.0, 1 / warm))  # linear warm-up from 1/warm


@pytest.mark.parametrize("schedule", ["constant", "multistep", "cosine", "onecycle"])
def test_a_one_step_run_trains(tmp_path, schedule):
    tree = tiny_tree(schedule={"name": schedule, "warmup_epochs": 0.0},
                     train={"epochs": 1 / 8, "device": "cpu"})  # 8 steps per epoch -> 1
    summary = train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    assert summary["steps"] == 1 and summary["test_accuracy"] is not None


def test_onecycle_subset_512_batch_128_one_epoch(tmp_path):
    """The reported crash: 4 steps, pct_start 0.25 -> a warm-up of exactly one step."""
    tree = tiny_tree(data={**tiny_tree()["data"], "args": {**tiny_tree()["data"]["args"],
                                                            "train_size": 600},
                           "subset": 512, "batch_size": 128},
                     schedule={"name": "onecycle"}, train={"epochs": 1, "device": "cpu"})
    summary = train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    assert summary["steps"] == 4


def test_train_steps_sets_the_run_length(tmp_path):
    # 256 images / 32 = 8 steps per epoch: 11 steps are one epoch and 3 steps of a second
    tree = tiny_tree(train={"steps": 11, "device": "cpu", "epochs": 100})
    summary = train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    assert summary["steps"] == 11
    assert summary["epochs"] == 2
    assert [h["step"] for h in summary["history"]] == [8, 11]
