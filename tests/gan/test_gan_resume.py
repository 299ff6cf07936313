"""A GAN run killed (SIGKILL) or interrupted mid-epoch resumes bit-identically on the CPU:
both networks (spectral norm's u and v, BatchNorm statistics), both Adam states, the
logged losses and the sample grids."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from hypercli.engine import read_checkpoint, train
from hypercli.recipe import build_recipe
from tests.engine.test_engine_interrupts import ENV, _state
from tests.gan.conftest import gan_tree

EPOCHS = 5  # of 4 batches


def _tree():
    data = {"augment": ["flip"], "args": {"train_size": 128, "test_size": 32, "image_size": 16,
                                          "num_classes": 4}}
    return gan_tree(gan={"n_dis": 2}, train={"epochs": EPOCHS, "device": "cpu"}, data=data,
                    regularizers=[{"name": "mhe", "args": {"s": "1", "layers": "hidden"}}])


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("ref") / "ref"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses (OMP_NUM_THREADS=1): the same float sums
    try:
        train(build_recipe(_tree()), out_dir=out, progress=False)
    finally:
        torch.set_num_threads(threads)
    return out


def _same_run(run, ref):
    a, b = read_checkpoint(run), read_checkpoint(ref)
    assert a["model"].keys() == b["model"].keys()
    for k, v in b["model"].items():  # weights, SN's _u/_v, running_mean/var
        assert torch.equal(a["model"][k], v), k
    for net in ("generator", "discriminator"):
        sa, sb = a["optimizer"][net]["state"], b["optimizer"][net]["state"]
        assert sa.keys() == sb.keys()
        for i in sb:
            for k in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(sa[i][k], sb[i][k]), (net, i, k)
    ha = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    hb = [json.loads(x) for x in (ref / "metrics.jsonl").read_text().splitlines()]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_steps", "mhe/total"):
        assert [h[key] for h in ha] == [h[key] for h in hb], key
    last = f"samples/epoch-{EPOCHS:03d}.png"
    assert (run / last).read_bytes() == (ref / last).read_bytes()


def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path, ref):
    recipe = tmp_path / "gan.yaml"
    recipe.write_text(yaml.safe_dump(_tree()))
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "hypercli", "train", "--recipe", str(recipe),
                             "--out", str(run), "--no-progress"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert read_checkpoint(run)["epoch"] < EPOCHS, "the run finished before it could be killed"
    torch.set_num_threads(1)
    train(build_recipe(read_checkpoint(run)["recipe"]), out_dir=run, resume=True,
          progress=False)
    _same_run(run, ref)


def test_an_interrupt_between_a_g_step_and_the_next_resumes_exactly(tmp_path, ref,
                                                                    monkeypatch):
    """Ctrl-C after 7 steps (epoch 2, batch 3): with n_dis 2, step 7 is a D step alone and
    the next G step opens step 8."""
    import hypercli.data.loader as T

    calls = {"n": 0}
    original = T.BatchLoader.batches

    def interrupted(self, start=0):
        for item in original(self, start):
            calls["n"] += 1
            if calls["n"] == 8:
                raise KeyboardInterrupt
            yield item

    torch.set_num_threads(1)
    monkeypatch.setattr(T.BatchLoader, "batches", interrupted)
    out = train(build_recipe(_tree()), out_dir=tmp_path / "cut", progress=False)
    assert out["interrupted"] and (out["epoch"], out["batch"]) == (1, 3)
    monkeypatch.setattr(T.BatchLoader, "batches", original)
    train(build_recipe(_tree()), out_dir=tmp_path / "cut", resume=True, progress=False)
    _same_run(tmp_path / "cut", ref)
    assert _state(tmp_path / "cut").keys() == _state(ref).keys()


def test_resume_takes_new_learning_rates_and_refuses_a_new_n_dis(tmp_path):
    from hypercli.errors import HyperError
    from hypercli.recipe import apply_overrides

    data = {"args": {"train_size": 64, "test_size": 32, "image_size": 16, "num_classes": 4}}
    tree = gan_tree(train={"epochs": 1, "device": "cpu"}, data=data)
    train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    stored = read_checkpoint(tmp_path / "run")["recipe"]
    with pytest.raises(HyperError, match="gan.n_dis"):
        train(apply_overrides(copy.deepcopy(stored), ["gan.n_dis=2"], "x"),
              out_dir=tmp_path / "run", resume=True, progress=False)
    rec = apply_overrides(copy.deepcopy(stored), ["gan.lr_d=1e-5", "train.epochs=2"], "x")
    done = train(rec, out_dir=tmp_path / "run", resume=True, progress=False)
    assert [h["lr_d"] for h in done["history"]] == [2e-3, 1e-5]
    assert [h["lr_g"] for h in done["history"]] == [2e-3, 2e-3]
    state = read_checkpoint(tmp_path / "run")["optimizer"]["discriminator"]
    assert state["param_groups"][0]["lr"] == 1e-5
