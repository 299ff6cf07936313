"""``hyper visualize-features`` end to end on tiny trained checkpoints (synthetic data, CPU)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from typer.testing import CliRunner

from hypercli.cli.main import app
from tests.conftest import tiny_tree

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, Path]:
    """Runs with 2-, 3- and 6-D feature layers, two training steps each."""
    from hypercli.engine import train
    from hypercli.recipe import build_recipe

    root = tmp_path_factory.mktemp("viz-runs")
    out = {}
    for dim in (2, 3, 6):
        tree = tiny_tree(name=f"tiny-{dim}d", model={"feature_dim": dim}, train={
            "epochs": 1, "device": "cpu"})
        tree["data"]["args"].update(train_size=64, test_size=48)
        train(build_recipe(tree), out_dir=root / f"d{dim}", progress=False)
        out[dim] = root / f"d{dim}"
    return out


def invoke(*args: str):
    return runner.invoke(app, ["visualize-features", *map(str, args)])


def loop_feature_angles(run: Path, n: int):
    """Independent path: the checkpoint's features of the first n test images, per-pair loops."""
    import hypercli
    from hypercli.data import load_data

    model, recipe = hypercli.load_checkpoint(run)
    data = load_data(recipe.data, recipe.seed)
    with torch.no_grad():
        f = model.features(data.test.images[:n].float() / 255.0).double().tolist()
    y = data.test.labels[:n].tolist()
    intra, inter = [], []
    for i in range(n):
        for j in range(i + 1, n):
            cos = sum(a * b for a, b in zip(f[i], f[j])) / (
                math.sqrt(sum(a * a for a in f[i])) * math.sqrt(sum(b * b for b in f[j])))
            (intra if y[i] == y[j] else inter).append(math.degrees(math.acos(max(-1, min(1, cos)))))
    return np.mean(intra), np.mean(inter)


def assert_image(path: Path, width: int, height: int) -> None:
    img = imread(path)
    assert img.shape[:2] == (height, width)
    assert float(img[..., :3].var()) > 0.0


@pytest.mark.parametrize("dim", [2, 3, 6])
def test_features_each_dimension(runs, tmp_path, dim):
    out = tmp_path / f"f{dim}.png"
    res = invoke(runs[dim], "--out", out, "--n", 40, "--size", "640x320", "--json")
    assert res.exit_code == 0, res.output
    assert_image(out, 640, 320)
    (model,) = json.loads(res.stdout)["models"]
    assert model["feature_dim"] == dim and model["n"] == 40
    intra, inter = loop_feature_angles(runs[dim], 40)
    assert model["mean_intra_deg"] == pytest.approx(intra, abs=1e-4)
    assert model["mean_inter_deg"] == pytest.approx(inter, abs=1e-4)


def test_compare_side_by_side_and_svg(runs, tmp_path):
    out = tmp_path / "cmp.svg"
    res = invoke("--checkpoint", runs[2], "--compare", runs[2] / "checkpoint.pt",
                 "--n", 30, "--out", out, "--json")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["models"]) == 2
    assert b"<svg" in out.read_bytes()[:2000]


def test_layers_view_energies(runs, tmp_path):
    import hypercli

    out = tmp_path / "layers.pdf"
    res = invoke(runs[3], "--layers", "head", "--out", out, "--json")
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF")
    (layer,) = json.loads(res.stdout)["models"][0]["layers"]
    w = hypercli.load_checkpoint(runs[3])[0].head.weight.detach().double().tolist()
    unit = [[v / math.sqrt(sum(x * x for x in r) + 1e-4) for v in r] for r in w]
    pairs = [(2 - 2 * sum(a * b for a, b in zip(unit[i], unit[j]))) ** -0.5
             for i in range(len(w)) for j in range(i + 1, len(w))]
    assert layer["layer"] == "head" and layer["filters"] == 4 and layer["dim"] == 3
    assert layer["energy_s1"] == pytest.approx(sum(pairs) / len(pairs), rel=1e-9)


def test_curves_and_default_output_next_to_the_run(runs):
    res = invoke("--curves", runs[6])
    assert res.exit_code == 0, res.output
    img = imread(runs[6] / "curves.png")
    assert img.ndim == 3 and float(img[..., :3].var()) > 0


def test_default_checkpoint_is_the_latest_run(runs, tmp_path):
    from hypercli.engine.runs import mark_latest

    mark_latest(runs[2])  # HYPER_RUNS is this test's own folder (conftest)
    out = tmp_path / "latest.png"
    res = invoke("--n", 20, "--out", out, "--size", "500x300")
    assert res.exit_code == 0, res.output
    assert_image(out, 500, 300)


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "does not exist"),
    (["{run}", "--out", "{tmp}/f.gif"], "unsupported extension '.gif'"),
    (["{run}", "--out", "{tmp}/blocker/f.png"], "is a file, not a folder"),
    (["{run}", "{run}"], "add --compare"),
    (["{run}", "--layers", "all", "--curves", "{run}"], "give one of them"),
    (["{run}", "--layers", "nope"], "matches no layer"),
    (["{run}", "--split", "dev"], "--split 'dev'"),
    (["--curves", "{tmp}"], "no metrics.jsonl"),
])
def test_user_errors_exit_2_with_one_line(runs, tmp_path, args, message):
    (tmp_path / "blocker").write_text("a file")
    fill = {"missing": tmp_path / "nope" / "checkpoint.pt", "run": runs[2], "tmp": tmp_path}
    res = invoke(*[a.format(**fill) for a in args])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not list(tmp_path.glob("*.png"))
