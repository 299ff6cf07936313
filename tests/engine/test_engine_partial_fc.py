"""loss.partial_fc in the training loop: one process trains exactly like the plain head, two
gloo processes with the sharded head train like one process with the whole matrix, and the
checkpoint holds the whole matrix (it loads into a plain Net and resumes in one process)."""

from __future__ import annotations

import pytest
import torch
import yaml

from hypercli.engine import load_checkpoint, train
from hypercli.recipe import build_recipe
from tests.conftest import tiny_tree
from tests.engine.test_engine_distributed import close, hyper_train, params


def _tree(**loss):
    return tiny_tree(data={"augment": ["flip"], "batch_size": 32},
                     model={"name": "plain-cnn-small", "batchnorm": False,
                            "args": {"widths": [8, 16], "final_width": 16}},
                     optimizer={"name": "sgd", "lr": 0.05, "weight_decay": 5e-4},
                     train={"epochs": 2, "device": "cpu", "grad_clip": 5.0},
                     loss={"name": "asoftmax", "args": {"m": 4}, **loss})


def test_one_process_partial_fc_is_the_plain_head(tmp_path):
    plain = train(build_recipe(_tree()), out_dir=tmp_path / "plain", progress=False)
    pfc = train(build_recipe(_tree(partial_fc=True)), out_dir=tmp_path / "pfc", progress=False)
    a, b = params(tmp_path / "plain"), params(tmp_path / "pfc")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    assert pfc["train_accuracy"] == plain["train_accuracy"]
    assert pfc["test_accuracy"] == plain["test_accuracy"]


def test_two_processes_shard_the_head_like_one_whole_matrix(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(_tree()))
    sharded = tmp_path / "pfc.yaml"
    sharded.write_text(yaml.safe_dump(_tree(partial_fc=True)))
    one = hyper_train("--recipe", str(plain), "--out", str(tmp_path / "one"))
    two = hyper_train("--recipe", str(sharded), "--out", str(tmp_path / "two"), nproc=2)
    assert two["world_size"] == 2 and two["steps"] == one["steps"]
    assert two["train_accuracy"] is None  # no rank holds every logit
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
    assert close(params(tmp_path / "one"), params(tmp_path / "two"))
    # the checkpoint holds the whole (4, 16) matrix: a plain Net loads it and evaluates
    model, state = load_checkpoint(tmp_path / "two")
    assert model.head.weight.shape == (4, 16)
    assert two["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=1 / 128)
    # and one process resumes it with more epochs, the momentum of all 4 rows restored
    more = hyper_train("--out", str(tmp_path / "two"), "--resume", "--set", "train.epochs=3")
    assert more["steps"] == one["steps"] * 3 // 2 and more["world_size"] == 1


def test_partial_fc_refuses_adversarial_training(tmp_path):
    from hypercli.errors import HyperError

    tree = _tree(partial_fc=True)
    tree["train"]["adversarial"] = {"method": "fgsm", "eps": 2}
    with pytest.raises(HyperError, match="partial_fc"):
        train(build_recipe(tree), out_dir=tmp_path / "r", progress=False)
