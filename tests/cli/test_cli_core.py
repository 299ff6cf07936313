"""The CLI through typer's CliRunner: help, list, train, eval, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from hypercli.cli.main import app
from tests.conftest import tiny_tree

runner = CliRunner()


def test_help_is_instant_and_lists_commands():
    code = ("import sys, hypercli.cli.main as m; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", "importing the CLI must not import torch"
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("train", "eval", "visualize-features", "attack", "mhe-solve", "list", "embed",
                "data"):
        assert cmd in res.output


def test_list_json():
    res = runner.invoke(app, ["list", "--json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert "plain-cnn-9" in out["models"] and "conv" in out["conv operators"]
    assert "softmax" in out["losses"] and "fashion-mnist" in out["datasets"]
    assert "fmnist-quick.yaml" in out["recipes"]


def test_train_eval_roundtrip(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_tree()))
    res = runner.invoke(app, ["train", "--recipe", str(recipe), "--no-progress", "--json",
                              "--set", "train.epochs=1"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 1
    # eval with no --checkpoint picks the latest run and says so
    res = runner.invoke(app, ["eval", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["accuracy"] == summary["test_accuracy"]
    assert sum(map(sum, out["confusion"])) == out["n"] == 128
    assert "latest run" in res.stderr
    res = runner.invoke(app, ["eval"])
    assert res.exit_code == 0 and "per class" in res.output


def test_errors_are_one_line_exit_2(tmp_path):
    cases = [
        ["train", "--recipe", "no-such-recipe"],
        ["train", "--recipe", "fmnist-quick", "--set", "optimizer.lrr=1"],
        ["train", "--recipe", "fmnist-quick", "--set", "model.name=nonet"],
        ["train", "--recipe", "fmnist-quick", "--set", "data.name=cifar10",
         "--set", f"data.root={tmp_path}"],
        ["train", "--resume"],
        ["eval", "--checkpoint", str(tmp_path / "missing.pt")],
        ["eval"],  # no run yet
    ]
    for args in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
        lines = [x for x in res.output.strip().splitlines() if x.strip()]
        assert lines[0].startswith("error:"), (args, res.output)
