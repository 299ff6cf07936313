"""DistributedDataParallel under torchrun with gloo: 2 processes train like 1 (same global
batch), and a 2-process checkpoint resumes in 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from hypercli.engine import load_checkpoint
from tests.conftest import tiny_tree

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def hyper_train(*args, nproc=1):
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 f"--nproc-per-node={nproc}", "-m", "hypercli"] if nproc > 1
                else [sys.executable, "-m", "hypercli"])
    res = subprocess.run([*launcher, "train", *args, "--no-progress", "--json"], env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def params(path):
    model, _ = load_checkpoint(path)
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def close(a, b, tol=2e-5):
    return all(torch.allclose(a[k], b[k], atol=tol, rtol=1e-4) for k in a)


@pytest.fixture
def recipe_file(tmp_path):
    tree = tiny_tree(data={"augment": ["crop", "flip"], "batch_size": 32},
                     # per-process BatchNorm statistics differ from whole-batch ones, and
                     # SyncBatchNorm runs only on GPUs: compare without BatchNorm
                     model={"name": "plain-cnn-small", "batchnorm": False,
                            "args": {"widths": [8, 16], "final_width": 16}},
                     train={"epochs": 2, "device": "cpu"},
                     loss={"name": "softmax"})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_two_processes_match_one(tmp_path, recipe_file):
    one = hyper_train("--recipe", str(recipe_file), "--out", str(tmp_path / "one"))
    two = hyper_train("--recipe", str(recipe_file), "--out", str(tmp_path / "two"), nproc=2)
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["steps"] == one["steps"]
    assert close(params(tmp_path / "one"), params(tmp_path / "two"))
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
    # one set of files, written by rank 0
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_two_process_checkpoint_resumes_in_one(tmp_path, recipe_file):
    hyper_train("--recipe", str(recipe_file), "--out", str(tmp_path / "ref"))
    hyper_train("--recipe", str(recipe_file), "--out", str(tmp_path / "mixed"),
                "--set", "train.epochs=1", nproc=2)
    hyper_train("--resume", "--out", str(tmp_path / "mixed"), "--set", "train.epochs=2")
    assert close(params(tmp_path / "ref"), params(tmp_path / "mixed"))
