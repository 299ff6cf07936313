"""`hyper eval --verify` end to end on a tiny checkpoint: JSON, the table, one-line errors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from hypercli.cli.main import app
from hypercli.verification import insightface
from tests.conftest import tiny_tree
from tests.verification.sets import encode, face, write_lfw

runner = CliRunner()
SIZE = (16, 16)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A plain-cnn-small trained for 2 steps on 16x16 RGB synthetic images."""
    root = tmp_path_factory.mktemp("verify-run")
    tree = tiny_tree(data={"name": "synthetic", "batch_size": 32,
                           "args": {"train_size": 64, "test_size": 32, "image_size": 16,
                                    "num_classes": 4, "channels": 3}},
                     train={"epochs": 1, "device": "cpu"})
    (root / "tiny.yaml").write_text(yaml.safe_dump(tree))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPER_RUNS", str(root / "runs"))
        res = runner.invoke(app, ["train", "--recipe", str(root / "tiny.yaml"), "--out",
                                  str(root / "run"), "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    return root / "run"


@pytest.fixture
def sets(tmp_path):
    arrays = [face(i, SIZE) for i in range(24)]
    same = [bool(i % 3) for i in range(12)]
    (tmp_path / "lfw.bin").write_bytes(pickle.dumps(([encode(a) for a in arrays], same),
                                                    protocol=4))
    pairs = write_lfw(tmp_path, "png", SIZE)
    return tmp_path, arrays, same, pairs


def lines(res):
    return [x for x in res.output.strip().splitlines() if x.strip()]


def test_eval_verify_json_matches_the_protocol_on_hand_made_embeddings(run, sets):
    tmp, arrays, same, pairs = sets
    res = runner.invoke(app, ["eval", "--checkpoint", str(run), "--verify", str(tmp / "lfw.bin"),
                              "--verify", str(pairs), "--images", str(tmp / "images"),
                              "--image-ext", "png", "--json", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["protocol"] is None and out["recipe"] == "tiny"  # each set's own protocol
    assert [(s["set"], s["protocol"]) for s in out["sets"]] == [("lfw", "insightface"),
                                                                 ("lfw", "sphereface")]
    lfw, lfw_txt = out["sets"]
    assert lfw["pairs"] == 12 and lfw["folds"] == 10 and lfw_txt["folds"] == 2
    # the same numbers from the checkpoint's features, computed here image by image
    import hypercli

    model, _ = hypercli.load_checkpoint(run)
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        f, m = model.features(x).double(), model.features(x.flip(3)).double()
    emb = (f + m).numpy()
    xnorm = float(torch.cat([f.norm(dim=1), m.norm(dim=1)]).mean())
    want = insightface(emb[0::2], emb[1::2], np.array(same), 10, xnorm)
    for k in ("accuracy", "accuracy_std", "threshold", "xnorm", "eer", "auc",
              "tar@far=0.001", "tar@far=0.0001"):
        assert lfw[k] == pytest.approx(want[k], rel=1e-5, abs=1e-7), k
    assert lfw["fold_accuracies"] == pytest.approx(want["fold_accuracies"])
    assert 0 <= lfw["threshold"] < 4 and -1 <= lfw_txt["threshold"] <= 1  # distance, cosine
    for s in out["sets"]:
        assert s["accuracy"] == pytest.approx(np.mean(s["fold_accuracies"]))
        assert s["xnorm"] > 0 and 0 <= s["auc"] <= 1 and 0 <= s["eer"] <= 1


def test_eval_verify_sphereface_table_and_pair_list(run, sets):
    tmp, _, _, _ = sets
    (tmp / "ann.txt").write_text("".join(
        f"{int(i % 2 == 0)} images/Ann_Lee/Ann_Lee_000{1 + i % 3}.png "
        f"images/Bo_Chan/Bo_Chan_000{1 + (i + 1) % 3}.png\n" for i in range(20)))
    res = runner.invoke(app, ["eval", "--checkpoint", str(run), "--verify", str(tmp / "ann.txt"),
                              "--protocol", "sphereface", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    (s,) = out["sets"]
    assert out["protocol"] == s["protocol"] == "sphereface" and s["pairs"] == 20
    assert -1 <= s["threshold"] <= 1 and s["folds"] == 10 and s["images"] == 6
    res = runner.invoke(app, ["eval", "--checkpoint", str(run), "--verify", str(tmp / "lfw.bin"),
                              "--protocol", "insightface"])
    assert res.exit_code == 0, res.output
    assert "(insightface protocol)" in res.output and "lfw" in res.output and "±" in res.output


def test_eval_verify_bad_input_is_one_line_exit_2(run, sets, tmp_path):
    tmp, _, _, pairs = sets
    (tmp / "evil.bin").write_bytes(b"cposix\nsystem\n(S'touch " + str(tmp / "m").encode()
                                   + b"'\ntR.")
    big = [encode(face(i, (20, 20))) for i in range(20)]
    (tmp / "big.bin").write_bytes(pickle.dumps((big, [True, False] * 5), protocol=4))
    (tmp / "few.bin").write_bytes(pickle.dumps((big[:4], [True, False]), protocol=4))
    cases = [
        (["--verify", str(tmp / "missing.bin")], "does not exist"),
        (["--verify", str(tmp / "lfw.bin"), "--protocol", "lfw"], "unknown verification protocol"),
        (["--verify", str(pairs)], "images are missing"),  # no --images, and .jpg by default
        (["--verify", str(tmp / "evil.bin")], "refusing to load"),
        (["--verify", str(tmp / "big.bin")], "its images are 20x20, the model takes 16x16"),
        (["--verify", str(tmp / "few.bin")], "few: 2 pairs cannot fill 10 folds"),
    ]
    for args, message in cases:
        res = runner.invoke(app, ["eval", "--checkpoint", str(run), *args])
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
        assert len(lines(res)) == 1 and lines(res)[0].startswith("error:"), res.output
        assert message in res.output, (args, res.output)
    assert not (tmp / "m").exists()
