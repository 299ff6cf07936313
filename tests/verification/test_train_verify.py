"""eval.verify during training: the sets are scored every verify_every steps and at the end,
logged in metrics.jsonl, equal to verify() on the saved model; a missing set fails first."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from hypercli.engine import load_checkpoint, train
from hypercli.errors import HyperError
from hypercli.recipe import build_recipe
from hypercli.verification import load_set, verify
from tests.conftest import tiny_tree
from tests.verification.sets import encode, face


def write_bin(path, pairs=20, size=16):
    """An insightface .bin of 2 x ``pairs`` gray PNGs (uint8 arrays), alternate same flags."""
    images = [np.frombuffer(encode(face(i, (size, size))[:, :, 0]), np.uint8)
              for i in range(2 * pairs)]
    path.write_bytes(pickle.dumps((images, [i % 2 == 0 for i in range(pairs)]), protocol=4))
    return path


def test_verification_sets_are_scored_every_n_steps_and_at_the_end(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    write_bin(root / "tiny.bin")
    tree = tiny_tree(train={"epochs": 2, "device": "cpu"},  # 8 steps per epoch
                     eval={"verify": [{"path": "tiny.bin"}], "verify_every": 3})
    tree["data"]["root"] = str(root)  # a relative set is found under data.root
    summary = train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    scored = [(h["step"], "images" in h) for h in lines if "verify/tiny/accuracy" in h]
    assert scored == [(3, False), (6, False), (8, True), (9, False), (12, False), (15, False),
                      (16, True)]
    assert [h["epoch"] for h in lines if "images" not in h] == [3 / 8, 6 / 8, 9 / 8, 12 / 8,
                                                                  15 / 8]
    last = lines[-1]
    assert last["verify/tiny/protocol"] == "insightface"
    model, _ = load_checkpoint(tmp_path / "run")
    ref = verify(model, load_set(root / "tiny.bin", channels=1), "insightface")
    assert last["verify/tiny/accuracy"] == pytest.approx(ref["accuracy"])
    assert last["verify/tiny/xnorm"] == pytest.approx(ref["xnorm"], rel=1e-6)
    assert "tiny" in summary["result"] and "insightface" in summary["result"]


def test_a_missing_verification_set_fails_before_training(tmp_path):
    tree = tiny_tree(eval={"verify": [{"path": "nope/lfw.bin"}]})
    with pytest.raises(HyperError, match=r"eval.verify.0.path nope/lfw.bin does not exist"):
        train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_two_sets_of_one_name_are_an_error(tmp_path):
    write_bin(tmp_path / "tiny.bin")
    (tmp_path / "b").mkdir()
    write_bin(tmp_path / "b" / "tiny.bin")
    tree = tiny_tree(eval={"verify": [{"path": str(tmp_path / "tiny.bin")},
                                      {"path": str(tmp_path / "b" / "tiny.bin")}]})
    with pytest.raises(HyperError, match="two sets are named 'tiny'"):
        train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
