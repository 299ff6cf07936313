"""The training engine: it learns, it resumes exactly, it stops clearly when it diverges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from hypercli.engine import load_checkpoint, train
from hypercli.errors import DivergenceError, HyperError
from hypercli.recipe import build_recipe
from tests.conftest import tiny_tree


def test_training_reduces_loss_and_writes_run(tmp_path, tiny_recipe):
    out = tmp_path / "run"
    summary = train(tiny_recipe, out_dir=out, progress=False)
    hist = summary["history"]
    assert hist[-1]["train_loss"] < 0.7 * hist[0]["train_loss"]
    assert summary["test_accuracy"] > 0.5  # 4 classes: chance is 0.25
    assert (out / "recipe.yaml").is_file() and (out / "checkpoint.pt").is_file()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    saved = json.loads((out / "summary.json").read_text())
    assert saved["test_accuracy"] == summary["test_accuracy"]
    assert yaml.safe_load((out / "recipe.yaml").read_text())["name"] == "tiny"
    # the stored model reproduces the reported accuracy
    model, recipe = load_checkpoint(out)
    assert not model.training and recipe.name == "tiny"
    from hypercli.data import load_data
    from hypercli.engine import evaluate

    acc = evaluate(model, load_data(recipe.data, recipe.seed).test)["accuracy"]
    assert acc == pytest.approx(summary["test_accuracy"])


def test_seeded_runs_are_repeatable(tmp_path, tiny_recipe):
    a = train(tiny_recipe, out_dir=tmp_path / "a", progress=False)
    b = train(tiny_recipe, out_dir=tmp_path / "b", progress=False)
    assert a["history"][-1]["train_loss"] == b["history"][-1]["train_loss"]


def test_refuses_to_overwrite_a_run(tmp_path, tiny_recipe):
    train(tiny_recipe.model_copy(update={"train": tiny_recipe.train.model_copy(
        update={"epochs": 0.1})}), out_dir=tmp_path / "a", progress=False)
    with pytest.raises(HyperError, match="--resume"):
        train(tiny_recipe, out_dir=tmp_path / "a", progress=False)


def _params(path):
    model, _ = load_checkpoint(path)
    return torch.cat([p.detach().flatten() for p in model.state_dict().values()
                      if p.is_floating_point()])


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    """Kill a real `hyper train` process after its first checkpoint; resume; compare."""
    tree = tiny_tree(train={"epochs": 4, "device": "cpu"},
                     data={"augment": ["crop", "flip"], "batch_size": 16},
                     schedule={"name": "onecycle"})
    recipe_file = tmp_path / "tiny.yaml"
    recipe_file.write_text(yaml.safe_dump(tree))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same threads, same float sums

    def hyper(*args):
        res = subprocess.run([sys.executable, "-m", "hypercli", "train", *args, "--no-progress",
                              "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    ref = hyper("--recipe", str(recipe_file), "--out", str(tmp_path / "ref"))
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "hypercli", "train", "--recipe", str(recipe_file),
           "--out", str(run), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / "checkpoint.pt").exists()
    from hypercli.engine import read_checkpoint

    assert read_checkpoint(run)["epoch"] < 4, "the run finished before it could be killed"
    resumed = hyper("--resume", "--out", str(run))
    assert torch.equal(_params(run), _params(tmp_path / "ref"))
    assert resumed["test_accuracy"] == ref["test_accuracy"]
    hist = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    ref_lines = (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()
    ref_hist = [json.loads(x) for x in ref_lines]
    assert [h["train_loss"] for h in hist] == [h["train_loss"] for h in ref_hist]


def test_interrupt_mid_epoch_saves_and_resumes_exactly(tmp_path, monkeypatch):
    """Ctrl-C in the middle of an epoch: a checkpoint at that step, and an exact resume."""
    tree = tiny_tree(train={"epochs": 2, "device": "cpu"}, data={"augment": ["flip"]})
    ref = train(build_recipe(tree), out_dir=tmp_path / "ref", progress=False)

    import hypercli.data.loader as T  # the in-memory loader the trainer builds

    calls = {"n": 0}
    original = T.BatchLoader.batches

    def interrupted(self, start=0):
        for item in original(self, start):
            calls["n"] += 1
            if calls["n"] == 11:  # epoch 2, batch 3 (8 batches per epoch)
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(T.BatchLoader, "batches", interrupted)
    out = train(build_recipe(tree), out_dir=tmp_path / "cut", progress=False)
    assert out["interrupted"] and (out["epoch"], out["batch"]) == (1, 2)
    monkeypatch.setattr(T.BatchLoader, "batches", original)
    done = train(build_recipe(tree), out_dir=tmp_path / "cut", resume=True, progress=False)
    assert torch.equal(_params(tmp_path / "cut"), _params(tmp_path / "ref"))
    assert done["history"][-1]["train_loss"] == pytest.approx(ref["history"][-1]["train_loss"])


def test_divergence_names_epoch_and_step_and_keeps_checkpoint(tmp_path):
    tree = tiny_tree(optimizer={"name": "sgd", "lr": 1e12, "momentum": 0.0},
                     train={"epochs": 3, "device": "cpu"})
    with pytest.raises(DivergenceError, match=r"epoch \d+, step \d+") as e:
        train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    msg = str(e.value)
    assert "checkpoint" in msg


def test_checkpoint_refuses_code_and_garbage(tmp_path):
    evil = tmp_path / "evil.pt"

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned > " + str(tmp_path / "owned"),))

    torch.save({"format": "hyper-checkpoint", "x": Evil()}, evil)
    with pytest.raises(HyperError, match="refused"):
        load_checkpoint(evil)
    assert not (tmp_path / "owned").exists()
    trunc = tmp_path / "trunc.pt"
    buf = __import__("io").BytesIO()
    torch.save({"format": "hyper-checkpoint", "model": {"w": torch.zeros(1000)}}, buf)
    trunc.write_bytes(buf.getvalue()[:-200])
    with pytest.raises(HyperError, match="not a readable checkpoint"):
        load_checkpoint(trunc)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(HyperError, match="not a hyper checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(HyperError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
