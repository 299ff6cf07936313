"""Run folders: one process at a time, stale temp files cleaned, diverged weights never
checkpointed, resume changes applied or refused, partial checkpoints refused."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import torch

from hypercli.engine import load_checkpoint, read_checkpoint, train
from hypercli.engine.lock import RunLock
from hypercli.errors import DivergenceError, HyperError
from hypercli.recipe import apply_overrides, build_recipe
from tests.conftest import tiny_tree


def _recipe(**sections):
    return build_recipe(tiny_tree(**sections))


def test_a_second_process_on_the_same_run_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):  # held as another process would hold it
        with pytest.raises(HyperError, match=r"in use by another hyper process \(pid \d+\)"):
            train(_recipe(), out_dir=out, progress=False)
    assert not (out / "checkpoint.pt").exists()
    train(_recipe(train={"epochs": 0.25, "device": "cpu"}), out_dir=out, progress=False)
    with RunLock(out):  # a concurrent --resume is refused too
        with pytest.raises(HyperError, match="in use"):
            train(_recipe(), out_dir=out, resume=True, progress=False)


def test_the_lock_of_a_killed_process_does_not_block(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    code = ("import os, sys; from hypercli.engine.lock import RunLock; "
            f"RunLock({str(out)!r}).acquire(); os.kill(os.getpid(), 9)")
    res = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert res.returncode == -9 and (out / ".lock").exists()
    train(_recipe(train={"epochs": 0.25, "device": "cpu"}), out_dir=out, progress=False)
    assert (out / "checkpoint.pt").is_file()


def test_stale_temp_files_are_removed_on_resume(tmp_path):
    out = tmp_path / "run"
    train(_recipe(train={"epochs": 0.5, "device": "cpu"}), out_dir=out, progress=False)
    stale = [out / ".checkpoint.pt.k1x9q.tmp", out / ".metrics.jsonl.a0b1.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    keep = out / ".notes.tmp"  # not ours: left alone
    keep.write_text("mine")
    train(_recipe(train={"epochs": 1, "device": "cpu"}), out_dir=out, resume=True,
          progress=False)
    assert not any(p.exists() for p in stale) and keep.exists()


def test_weights_that_overflow_stop_the_run_and_keep_the_good_checkpoint(tmp_path):
    """One step per epoch at lr 1e6: the training losses stay finite, the weights do not."""
    tree = tiny_tree(optimizer={"name": "sgd", "lr": 1e6},
                     data={**tiny_tree()["data"], "subset": 32},
                     train={"epochs": 3, "device": "cpu"})
    out = tmp_path / "run"
    with pytest.raises(DivergenceError, match=r"NaN or inf|diverged") as e:
        train(build_recipe(tree), out_dir=out, progress=False)
    assert "optimizer.lr" in str(e.value)
    if (out / "checkpoint.pt").exists():  # a checkpoint that exists holds finite weights
        state = read_checkpoint(out)
        assert all(bool(torch.isfinite(v).all()) for v in state["model"].values()
                   if v.is_floating_point())
        assert "kept" in str(e.value)
        load_checkpoint(out)


def test_resume_applies_a_changed_learning_rate_and_records_it(tmp_path):
    out = tmp_path / "run"
    train(_recipe(train={"epochs": 1, "device": "cpu"}), out_dir=out, progress=False)
    stored = read_checkpoint(out)["recipe"]
    rec = apply_overrides(stored, ["optimizer.lr=0.01", "optimizer.momentum=0.5",
                                   "train.epochs=2"], "resume")
    done = train(rec, out_dir=out, resume=True, progress=False)
    assert done["history"][0]["lr"] == 0.05 and done["history"][1]["lr"] == 0.01
    groups = read_checkpoint(out)["optimizer"]["param_groups"]
    assert all(g["lr"] == 0.01 and g["momentum"] == 0.5 for g in groups)
    import yaml

    assert yaml.safe_load((out / "recipe.yaml").read_text())["optimizer"]["lr"] == 0.01


def test_resume_refuses_shape_and_data_changes(tmp_path):
    out = tmp_path / "run"
    train(_recipe(train={"epochs": 0.5, "device": "cpu"}), out_dir=out, progress=False)
    stored = read_checkpoint(out)["recipe"]
    wider = apply_overrides(copy.deepcopy(stored), ["model.args.widths=[4,16]"], "resume")
    with pytest.raises(HyperError, match=r"body\.0\.weight.*cannot change shape"):
        train(wider, out_dir=out, resume=True, progress=False)
    other = apply_overrides(copy.deepcopy(stored), ["data.subset=100"], "resume")
    with pytest.raises(HyperError, match="data.subset .*cannot change on resume"):
        train(other, out_dir=out, resume=True, progress=False)
    adam = apply_overrides(copy.deepcopy(stored), ["optimizer.name=adam"], "resume")
    with pytest.raises(HyperError, match="optimizer.name .*cannot change on resume"):
        train(adam, out_dir=out, resume=True, progress=False)


def _save(path, obj):
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_bytes(b""), "an empty file"),
    (lambda p: p.write_text("not a checkpoint\n"), "no torch zip archive"),
    (lambda p: _save(p, {"format": "hyper-checkpoint"}), "no 'recipe' entry"),
    (lambda p: _save(p, {"format": "hyper-checkpoint", "version": 1, "recipe": {},
                         "data": {}, "model": "weights"}), "'model' entry is a str"),
    (lambda p: _save(p, {"format": "hyper-checkpoint", "recipe": {}, "model": {},
                         "data": {"num_classes": 3}}), "lacks 'in_channels'"),
])
def test_partial_checkpoints_are_one_line_errors(tmp_path, make, match):
    path = tmp_path / "checkpoint.pt"
    make(path)
    with pytest.raises(HyperError, match=match):
        load_checkpoint(path)


def test_resume_of_a_checkpoint_without_training_state_is_refused(tmp_path):
    out = tmp_path / "run"
    train(_recipe(train={"epochs": 0.25, "device": "cpu"}), out_dir=out, progress=False)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    del state["optimizer"]
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(HyperError, match="no 'optimizer' entry"):
        train(_recipe(), out_dir=out, resume=True, progress=False)


def test_latest_pointer_with_binary_garbage(tmp_path, monkeypatch):
    from hypercli.engine.runs import latest_run

    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    monkeypatch.setenv("HYPER_RUNS", str(runs))
    (runs / "LATEST").write_bytes(bytes(range(256)))
    with pytest.raises(HyperError, match="LATEST"):
        latest_run()
    (runs / "LATEST").write_bytes(b"\x00\x00\n")
    with pytest.raises(HyperError, match="LATEST"):
        latest_run()


def test_ignored_settings_are_warned_once(tmp_path):
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    rec = _recipe(schedule={"name": "onecycle", "milestones": [1]},
                  optimizer={"name": "adam", "lr": 1e-3, "momentum": 0.5},
                  train={"epochs": 0.25, "device": "cpu"})
    train(rec, out_dir=tmp_path / "run", progress=False, console=Console(file=buf, width=200))
    lines = [x for x in buf.getvalue().splitlines() if x.startswith("warning:")]
    assert lines == [
        "warning: optimizer.momentum=0.5 has no effect with optimizer.name=adam (only with sgd)",
        "warning: schedule.milestones=[1.0] has no effect with schedule.name=onecycle "
        "(only with multistep)"]


def test_summary_of_a_finished_run_is_json(tmp_path):
    out = tmp_path / "run"
    train(_recipe(train={"epochs": 0.25, "device": "cpu"}), out_dir=out, progress=False)
    assert json.loads((out / "summary.json").read_text())["steps"] == 2
