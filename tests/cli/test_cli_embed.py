"""``hyper embed`` through typer's CliRunner: the files read back with safetensors.numpy and
json alone, against the model's features computed here (mirror by hand, float64)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console
from safetensors.numpy import load_file
from typer.testing import CliRunner

import hypercli
from hypercli.cli.main import app
from hypercli.recipe import build_recipe
from tests.conftest import tiny_tree

runner = CliRunner()
SIZE = 16  # the tiny recipe's synthetic images: 1 x 16 x 16


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    hypercli.train(build_recipe(tiny_tree(train={"epochs": 1, "device": "cpu"})), out_dir=run,
                   progress=False, console=Console(file=io.StringIO()))
    return run / "checkpoint.pt"


def _png(path, seed: int, size=(SIZE, SIZE), mode: str = "L") -> None:
    rng = np.random.default_rng(seed)
    shape = (size[0], size[1]) + ((3,) if mode == "RGB" else ())
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def _faces(folder) -> list[str]:
    """A few images in nested folders, one RGB (decoded gray for this 1-channel model), and
    a file that is no image; returns the expected order, written out by hand."""
    for seed, name in enumerate(["b/x.png", "a/2.png", "a/10.png", "c.PNG"]):
        _png(folder / name, seed)
    _png(folder / "a" / "rgb.png", 9, mode="RGB")
    (folder / "a" / "notes.txt").write_text("not an image")
    return ["a/10.png", "a/2.png", "a/rgb.png", "b/x.png", "c.PNG"]


def _reference(ckpt, files, flip: str, normalize: bool) -> np.ndarray:
    """model.features of each image and its mirror (columns reversed by hand), float64."""
    model, _ = hypercli.load_checkpoint(ckpt)
    gray = np.stack([np.asarray(Image.open(f).convert("L"), dtype=np.float64) / 255.0
                     for f in files])[:, None]  # (N, 1, H, W)
    mirror = gray[:, :, :, ::-1].copy()
    with torch.no_grad():
        f = model.features(torch.from_numpy(gray).float()).double().numpy()
        m = model.features(torch.from_numpy(mirror).float()).double().numpy()
    rows = {"none": f, "sum": f + m, "concat": np.concatenate([f, m], axis=1)}[flip]
    if normalize:
        rows = rows / np.sqrt((rows**2).sum(axis=1, keepdims=True))
    return rows


def _embed(*args: str):
    return runner.invoke(app, ["embed", *map(str, args)])


def test_a_folder_round_trips_through_safetensors_and_json(ckpt, tmp_path):
    order = _faces(tmp_path / "faces")
    out = tmp_path / "out" / "emb.safetensors"
    res = _embed("--checkpoint", ckpt, "--images", tmp_path / "faces", "--out", out)
    assert res.exit_code == 0, res.output
    assert "embedded  5/5" in res.output and "img/s" in res.output
    emb = load_file(str(out))
    side = json.load(open(tmp_path / "out" / "emb.json"))
    assert sorted(emb) == ["embeddings"]  # a folder has no labels
    e = emb["embeddings"]
    assert e.dtype == np.float32 and e.shape == (5, 16)
    assert side["paths"] == order
    want = _reference(ckpt, [tmp_path / "faces" / p for p in order], "sum", True)
    np.testing.assert_allclose(e, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(e.astype(np.float64), axis=1), 1.0, atol=1e-6)
    from safetensors import safe_open

    with safe_open(str(out), framework="np") as f:
        meta = f.metadata()
    expect = {"format": "hyper-embeddings", "version": 1, "checkpoint": str(ckpt.resolve()),
              "recipe": "tiny", "flip": "sum", "normalized": True, "count": 5, "dim": 16}
    for key, value in expect.items():
        assert side[key] == value, key
        assert meta[key] == (str(value).lower() if isinstance(value, bool) else str(value))
    assert sorted(p.name for p in out.parent.iterdir()) == ["emb.json", "emb.safetensors"]


def test_a_list_with_labels_and_concat_gives_2d(ckpt, tmp_path):
    order = _faces(tmp_path / "faces")
    listed = [order[3], order[0], order[4]]
    lst = tmp_path / "lists" / "probe.txt"
    lst.parent.mkdir()
    lst.write_text(f"# probe\n{listed[0]} 7\n\n{listed[1]} 0\n{listed[2]} 3\n")
    out = tmp_path / "emb.safetensors"
    res = _embed("--checkpoint", ckpt, "--images", lst, "--root", tmp_path / "faces",
                 "--out", out, "--flip", "concat", "--workers", "0", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["dim"] == 32
    emb = load_file(str(out))
    assert emb["embeddings"].shape == (3, 32)
    assert emb["labels"].dtype == np.int64 and emb["labels"].tolist() == [7, 0, 3]
    side = json.load(open(tmp_path / "emb.json"))
    assert side["paths"] == listed and side["labels"] == [7, 0, 3]
    assert side["flip"] == "concat"
    want = _reference(ckpt, [tmp_path / "faces" / p for p in listed], "concat", True)
    np.testing.assert_allclose(emb["embeddings"], want, atol=1e-5)


def test_no_normalize_npy_keeps_the_raw_norms(ckpt, tmp_path):
    order = _faces(tmp_path / "faces")
    lst = tmp_path / "faces" / "all.txt"  # paths relative to the list's own folder
    lst.write_text("\n".join(order) + "\n")
    out = tmp_path / "raw.npy"
    res = _embed("--checkpoint", ckpt, "--images", lst, "--out", out, "--no-normalize",
                 "--flip", "none", "--workers", "0")
    assert res.exit_code == 0, res.output
    e = np.load(out, allow_pickle=False)
    side = json.load(open(tmp_path / "raw.json"))
    assert side["paths"] == order and side["normalized"] is False and "labels" not in side
    want = _reference(ckpt, [tmp_path / "faces" / p for p in order], "none", False)
    np.testing.assert_allclose(e, want, rtol=1e-5, atol=1e-5)
    norms = np.linalg.norm(e.astype(np.float64), axis=1)
    assert np.abs(norms - 1).max() > 0.1  # raw rows are not unit vectors
    np.testing.assert_allclose(norms, np.linalg.norm(want, axis=1), rtol=1e-5)


def _one_line_error(res, *words: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [x for x in res.output.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_bad_input_is_one_line_exit_2(ckpt, tmp_path):
    _faces(tmp_path / "faces")
    out = tmp_path / "e.safetensors"
    base = ["--checkpoint", ckpt, "--workers", "0"]
    lst = tmp_path / "faces" / "l.txt"
    lst.write_text("a/2.png\na/gone.png\n")
    _one_line_error(_embed(*base, "--images", lst, "--out", out), "a/gone.png", "does not exist")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    _one_line_error(_embed(*base, "--images", tmp_path / "empty", "--out", out),
                    "holds no images")
    _png(tmp_path / "big" / "a.png", 0)
    _png(tmp_path / "big" / "b.png", 1, size=(20, 18))
    _one_line_error(_embed(*base, "--images", tmp_path / "big", "--out", out),
                    "b.png is 20x18", "takes 16x16", "resize or align", str(ckpt))
    _one_line_error(_embed(*base, "--images", tmp_path / "faces", "--out", out, "--flip",
                           "mean"), "--flip 'mean'", "none, sum, concat")
    _one_line_error(_embed(*base, "--images", tmp_path / "faces", "--out", tmp_path / "e.txt"),
                    ".safetensors or .npy")
    assert not out.exists() and not (tmp_path / "e.json").exists()

    assert _embed(*base, "--images", tmp_path / "faces", "--out", out).exit_code == 0
    before = out.read_bytes()
    _one_line_error(_embed(*base, "--images", tmp_path / "faces", "--out", out, "--flip",
                           "none"), "already exists", "--force")
    assert out.read_bytes() == before
    res = _embed(*base, "--images", tmp_path / "faces", "--out", out, "--flip", "none",
                 "--force")
    assert res.exit_code == 0, res.output
    assert load_file(str(out))["embeddings"].shape == (5, 16) and out.read_bytes() != before
    assert json.load(open(tmp_path / "e.json"))["flip"] == "none"


def test_embed_help_is_instant():
    code = ("import sys; from typer.testing import CliRunner; from hypercli.cli.main import app; "
            "r = CliRunner().invoke(app, ['embed', '--help']); "
            "print(r.exit_code, '--no-normalize' in r.output, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["0", "True", "False"], out.stderr
