"""Every operator and head trains through the real engine from a recipe (tiny synthetic data)."""

from __future__ import annotations

import math

import pytest

from hypercli.engine import load_checkpoint, train
from hypercli.recipe import build_recipe
from hypercli.registry import CONVS, HEADS
from tests.conftest import tiny_tree

SMALL = {"name": "synthetic", "args": {"train_size": 64, "test_size": 32, "image_size": 8,
                                       "num_classes": 4}, "batch_size": 16}


def run(tmp_path, name, **sections):
    tree = tiny_tree(data=SMALL, train={"epochs": 1, "device": "cpu"}, **sections)
    return train(build_recipe(tree), out_dir=tmp_path / name, progress=False)


@pytest.mark.parametrize("conv", CONVS.names())
def test_every_operator_trains_from_a_recipe(tmp_path, conv):
    summary = run(tmp_path, conv, model={"name": "plain-cnn-small", "conv": conv,
                                         "args": {"widths": [4, 8], "final_width": 8}},
                  regularizers=[{"name": "orthogonality", "args": {"layers": "conv"}}])
    assert math.isfinite(summary["history"][-1]["train_loss"])
    assert 0.0 <= summary["test_accuracy"] <= 1.0


@pytest.mark.parametrize("head", HEADS.names())
def test_every_head_trains_from_a_recipe(tmp_path, head):
    summary = run(tmp_path, head, model={"name": "plain-cnn-small", "feature_dim": 3,
                                         "args": {"widths": [4, 8], "final_width": 8}},
                  loss={"name": head})
    assert math.isfinite(summary["history"][-1]["train_loss"])


def test_asoftmax_schedule_resumes_from_the_checkpoint(tmp_path):
    model = {"name": "plain-cnn-small", "linear": "sphere", "feature_dim": 3,
             "args": {"widths": [4, 8], "final_width": 8}}
    loss = {"name": "asoftmax", "args": {"m": 4, "gamma": 0.5}}
    out = tmp_path / "run"
    first = build_recipe(tiny_tree(data=SMALL, model=model, loss=loss,
                                   train={"epochs": 1, "device": "cpu"}))
    train(first, out_dir=out, progress=False)
    net, _ = load_checkpoint(out)
    assert int(net.head.iteration) == 4  # 64 images / batch 16
    second = first.model_copy(update={"train": first.train.model_copy(update={"epochs": 2})})
    summary = train(second, out_dir=out, resume=True, progress=False)
    net, _ = load_checkpoint(out)
    assert int(net.head.iteration) == 8
    assert summary["history"][-1]["head/lambda"] == pytest.approx(1000 / (1 + 0.5 * 8))
