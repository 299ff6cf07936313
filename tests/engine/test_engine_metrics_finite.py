"""Metrics refuse non-finite numbers and degenerate data instead of reporting them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hypercli.cli.main import app
from hypercli.data import load_data
from hypercli.engine import evaluate, load_checkpoint, train
from hypercli.errors import HyperError
from hypercli.recipe import build_recipe
from hypercli.verification.drawn import verification
from tests.conftest import tiny_tree

runner = CliRunner()


def _one_hot(n=200, classes=4, dim=8):
    labels = np.arange(n) % classes
    return np.eye(dim)[labels], labels


def test_verification_refuses_nan_rows_naming_them():
    emb, labels = _one_hot()
    clean = verification(emb, labels, pairs=600)  # separable: perfect verification
    assert clean["accuracy"] == 1.0 and clean["tar@far=0.001"] == 1.0
    emb[17] = np.nan
    emb[123, 3] = np.inf
    with pytest.raises(HyperError, match=r"rows 17, 123 \(2 of 200\)"):
        verification(emb, labels, pairs=600)
    with pytest.raises(HyperError, match="rows 17, 123"):
        verification(torch.tensor(emb), torch.tensor(labels), pairs=600)


def test_verification_needs_two_classes_and_valid_rates():
    emb, labels = _one_hot()
    with pytest.raises(HyperError, match="two classes"):
        verification(emb, np.zeros(200, dtype=int), pairs=600)
    with pytest.raises(HyperError, match="at least two samples"):
        verification(emb[:4], np.arange(4), pairs=40, folds=2)
    with pytest.raises(HyperError, match=r"\[0, 1\]"):
        verification(emb, labels, pairs=600, far=[1.5])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    train(build_recipe(tiny_tree(train={"epochs": 1, "device": "cpu"})), out_dir=out,
          progress=False)
    return out


def _poison(src, dst, key=None, value=float("nan")):
    state = torch.load(src / "checkpoint.pt", weights_only=True)
    key = key or next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key].view(-1)[0] = value
    torch.save(state, dst)
    return key


def test_checkpoint_with_a_nan_weight_is_refused_by_load_and_eval(trained, tmp_path):
    bad = tmp_path / "nan.pt"
    key = _poison(trained, bad)
    with pytest.raises(HyperError, match=f"NaN or inf in 1 tensor.*{key}"):
        load_checkpoint(bad)
    res = runner.invoke(app, ["eval", "--checkpoint", str(bad)])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert res.output.startswith("error:") and key in res.output
    assert "accuracy" not in res.output


def test_evaluate_refuses_non_finite_logits(trained):
    model, recipe = load_checkpoint(trained)
    with torch.no_grad():
        model.head.weight[0, 0] = float("inf")
    test = load_data(recipe.data, recipe.seed).test
    with pytest.raises(HyperError, match="logits holds NaN or inf"):
        evaluate(model, test)


@pytest.mark.parametrize("sets, match", [
    ({"classes": [3]}, "at least two"),
    ({"args": {**tiny_tree()["data"]["args"], "num_classes": 1}}, "1 class"),
    ({"classes": [1, 1]}, "twice"),
    ({"val_split": 0.001}, "holds out no image"),
    ({"imbalance": {"kind": "multiple", "classes": [0, 1, 2], "ratios": [0.01, 0.01, 0.01]},
      "subset": 2}, "1 class"),
])
def test_degenerate_data_is_an_error_not_a_perfect_score(sets, match):
    tree = tiny_tree(data={**tiny_tree()["data"], **sets})
    with pytest.raises(HyperError, match=match):
        train(build_recipe(tree), progress=False)


def test_a_loaded_model_refuses_images_outside_the_unit_interval(trained):
    from hypercli.engine import predict

    model, recipe = load_checkpoint(trained)
    x = load_data(recipe.data, recipe.seed).test.floats(0, 8)  # (8, 1, 16, 16) in [0, 1]
    model(x)
    with pytest.raises(HyperError, match=r"min 0, max 255$"):
        model(x * 255 / float(x.max()))  # 0..255 images
    with pytest.raises(HyperError, match=r"got min -2, max 2$"):
        predict(model, (x - x.min()) / (x.max() - x.min()) * 4 - 2)  # normalized ones
    with pytest.raises(HyperError, match="the split holds no images"):
        from hypercli.data.base import Split

        evaluate(model, Split(torch.zeros(0, 1, 16, 16, dtype=torch.uint8),
                              torch.zeros(0, dtype=torch.long)))
