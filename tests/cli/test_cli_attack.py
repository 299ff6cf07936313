"""``hyper attack`` via typer's CliRunner on a tiny trained run, checked against torchattacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchattacks
import yaml
from typer.testing import CliRunner

from hypercli import load_checkpoint
from hypercli.cli.main import app
from hypercli.data import load_data
from tests.conftest import tiny_tree

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One tiny synthetic run (a few seconds), trained through ``hyper train``."""
    root = tmp_path_factory.mktemp("attack-run")
    recipe = root / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_tree()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPER_RUNS", str(root / "runs"))
        res = runner.invoke(app, ["train", "--recipe", str(recipe), "--out", str(root / "run"),
                                  "--no-progress", "--set", "train.epochs=2"])
    assert res.exit_code == 0, res.output
    return root / "run"


def _json(res) -> dict:
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


def _test_images(run: Path, n: int):
    model, recipe = load_checkpoint(run)
    test = load_data(recipe.data, recipe.seed).test
    return model, test.floats(0, n), test.labels[:n]


def test_defaults_fgsm_on_the_latest_run_match_torchattacks(run_dir, monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "LATEST").write_text(str(run_dir.resolve()) + "\n")
    out = _json(runner.invoke(app, ["attack", "--eps", "8", "--n", "100", "--json"]))
    assert out["method"] == "fgsm" and out["steps"] == 1 and out["eps"] == 8.0
    assert out["n"] == 100 and out["units"] == "1/255"
    model, x, y = _test_images(run_dir, 100)
    adv = torchattacks.FGSM(model, eps=8 / 255)(x, y)
    with torch.no_grad():
        clean, attacked = model(x).argmax(1) == y, model(adv).argmax(1) == y
    assert out["clean_acc"] == pytest.approx(float(clean.float().mean()))
    assert out["robust_acc"] == pytest.approx(float((clean & attacked).float().mean()))
    assert out["mean_linf"] == pytest.approx(8 / 255, rel=1e-5)


def test_bim_save_adv_is_torchattacks_bim_and_loads_safely(run_dir, tmp_path):
    path = tmp_path / "adv.pt"
    out = _json(runner.invoke(app, ["attack", "--checkpoint", str(run_dir), "--method", "bim",
                                    "--eps", "6", "--alpha", "1", "--steps", "7", "--n", "50",
                                    "--batch-size", "16", "--save-adv", str(path), "--json"]))
    assert out["saved"] == str(path)
    saved = torch.load(path, weights_only=True)
    model, x, y = _test_images(run_dir, 50)
    assert torch.equal(saved["x"], x) and torch.equal(saved["y"], y)
    want = torchattacks.BIM(model, eps=6 / 255, alpha=1 / 255, steps=7)(x, y)
    assert torch.equal(saved["x_adv"], want)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


def test_pgd_l2_eps_is_a_plain_l2_norm(run_dir):
    out = _json(runner.invoke(app, ["attack", "--checkpoint", str(run_dir), "--method",
                                    "pgd-l2", "--eps", "0.5", "--n", "40", "--json"]))
    assert out["units"] == "L2" and out["random_start"] is True
    assert 0.3 < out["mean_l2"] <= 0.5 + 1e-5


def test_zero_eps_keeps_clean_accuracy(run_dir):
    out = _json(runner.invoke(app, ["attack", "--checkpoint", str(run_dir), "--method", "pgd",
                                    "--eps", "0", "--n", "60", "--json"]))
    assert out["robust_acc"] == out["clean_acc"] and out["success_rate"] == 0.0


def test_targeted_and_min_norm(run_dir):
    out = _json(runner.invoke(app, ["attack", "--checkpoint", str(run_dir), "--method", "pgd",
                                    "--eps", "64", "--targeted", "--min-norm", "linf",
                                    "--n", "10", "--json"]))
    assert out["targeted"] is True and out["success_rate"] > 0.5
    mn = out["min_norm"]
    assert mn["units"] == "1/255" and mn["n"] == round(out["clean_acc"] * 10)
    assert 0 < mn["median"] < 255 and mn["unflipped"] == 0


def test_table_output_names_the_units(run_dir):
    res = runner.invoke(app, ["attack", "--checkpoint", str(run_dir), "--eps", "4",
                              "--n", "8", "--min-norm", "l2"])
    assert res.exit_code == 0, res.output
    for words in ("robust accuracy", "eps=4/255", "minimal L2 norm"):
        assert words in res.output


@pytest.mark.parametrize("args, words", [
    (["--eps", "-1"], "negative"),
    (["--eps", "8", "--method", "deepfool"], "unknown attack 'deepfool'"),
    (["--eps", "8", "--method", "fgsm", "--steps", "5"], "step"),
    (["--eps", "8", "--method", "bim", "--random-start"], "random start"),
    (["--eps", "8", "--min-norm", "l1"], "--min-norm"),
    (["--eps", "8", "--n", "0"], "--n"),
])
def test_bad_flags_are_one_line_errors(run_dir, args, words):
    res = runner.invoke(app, ["attack", "--checkpoint", str(run_dir), *args])
    assert res.exit_code == 2
    assert words in res.stderr and res.stderr.count("error:") == 1


def test_missing_or_foreign_checkpoints_are_one_line_errors(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for path, words in [(tmp_path / "nope.pt", "does not exist"),
                        (foreign, "not a hyper checkpoint")]:
        res = runner.invoke(app, ["attack", "--checkpoint", str(path), "--eps", "8"])
        assert res.exit_code == 2, res.output
        assert words in res.stderr
    res = runner.invoke(app, ["attack", "--eps", "8"])  # no run at all
    assert res.exit_code == 2 and "no run found" in res.stderr


def test_a_text_file_as_checkpoint_is_a_one_line_error(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")  # torch.load raises KeyError on this
    res = runner.invoke(app, ["attack", "--checkpoint", str(text), "--eps", "8"])
    assert res.exit_code == 2, res.output
    assert "not a readable checkpoint" in res.stderr
