"""SIGINT and SIGTERM at random moments: a checkpoint at a step boundary, no traceback, an
exit code of 128 + the signal, and a resume that ends bit-identical to an uninterrupted run
(BatchNorm running statistics included)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from tests.conftest import tiny_tree

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same float sums in every process


def _recipe(tmp_path):
    tree = tiny_tree(train={"epochs": 3, "device": "cpu"},
                     data={**tiny_tree()["data"], "batch_size": 16, "augment": ["flip"]})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tree))  # plain-cnn-small: BatchNorm after every conv
    return path


def _state(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def _interrupt(recipe, run, sig, delay, twice):
    """Start a run, send ``sig`` ``delay`` s after training began (twice if asked)."""
    proc = subprocess.Popen([sys.executable, "-m", "hypercli", "train", "--recipe", str(recipe),
                             "--out", str(run), "--no-progress"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    header = proc.stderr.readline()  # printed once the data and the model are ready
    assert "parameters" in header, header
    time.sleep(delay)
    proc.send_signal(sig)
    if twice:
        time.sleep(0.002)
        proc.send_signal(sig)
    rest = proc.stderr.read()
    return proc.wait(timeout=300), " ".join((header + rest).split())  # undo rich's wrapping


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, in this process with the subprocesses' single thread."""
    from hypercli.engine import train
    from hypercli.recipe import load_recipe

    tmp = tmp_path_factory.mktemp("ref")
    recipe = _recipe(tmp)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = train(load_recipe(recipe), out_dir=tmp / "ref", progress=False)
    finally:
        torch.set_num_threads(threads)
    return recipe, summary, _state(tmp / "ref")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_at_a_random_moment_resumes_bit_identically(tmp_path, reference, sig, code):
    from hypercli.engine import train
    from hypercli.recipe import build_recipe

    recipe, ref, ref_state = reference
    rng = random.Random(int(sig))
    for attempt in range(3):  # until a signal lands inside the run
        run = tmp_path / f"cut{attempt}"
        delay = rng.uniform(0.05, 0.8) * ref["train_seconds"] / (attempt + 1)
        rc, err = _interrupt(recipe, run, sig, delay, twice=sig == signal.SIGINT)
        assert "Traceback" not in err, err
        if rc != 0:
            break
    assert rc == code, (rc, err)
    assert f"stopped by {signal.Signals(sig).name}" in err and \
        f"hyper train --resume --out {run}" in err, err
    torch.set_num_threads(1)
    stored = torch.load(run / "checkpoint.pt", weights_only=True)
    done = train(build_recipe(stored["recipe"]), out_dir=run, resume=True, progress=False)
    state = _state(run)
    assert state.keys() == ref_state.keys()
    for k, v in ref_state.items():  # weights, running_mean/var, num_batches_tracked
        assert torch.equal(state[k], v), (k, delay, stored["epoch"], stored["batch"])
    assert done["test_accuracy"] == ref["test_accuracy"]
