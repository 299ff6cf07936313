"""embed_files and the embeddings file: rows against a closed-form model in float64, the
safetensors bytes parsed by hand, sizes (H, W), progress lines, atomic writes."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console
from safetensors import safe_open
from safetensors.numpy import load_file
from torch import nn

from hypercli.engine.embed import embed_files, input_size, l2_normalize
from hypercli.engine.embeddings_file import check_output, save_embeddings, sidecar_path
from hypercli.engine.io import atomic_open
from hypercli.engine.progress import LineProgress
from hypercli.errors import HyperError

D, C, H, W = 5, 3, 8, 6  # a non-square input: height 8, width 6


class _Weighted(nn.Module):
    """features(x)[k] = sum over (c, i, j) of w[k, c, i, j] x[c, i, j]: known in closed form
    for any image and its mirror, at any stored size the weights were made for."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,kchw->bk", x, self.w)


def _model(seed: int = 0) -> tuple[_Weighted, np.ndarray]:
    w = torch.randn(D, C, H, W, generator=torch.Generator().manual_seed(seed))
    return _Weighted(w), w.double().numpy()


def _write_pngs(folder, n: int, size=(H, W), seed: int = 1) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = rng.integers(0, 256, (n, size[0], size[1], C), dtype=np.uint8)  # (N, H, W, C)
    names = [f"img{i:02d}.png" for i in range(n)]
    for name, a in zip(names, arrays):
        Image.fromarray(a, "RGB").save(folder / name)
    return names, arrays


def _reference(arrays: np.ndarray, w: np.ndarray, flip: str, normalize: bool) -> np.ndarray:
    """The spec's rows in float64, one image at a time, the mirror by hand (j -> W-1-j)."""
    rows = []
    for a in arrays:
        x = a.astype(np.float64).transpose(2, 0, 1) / 255.0  # (C, H, W)
        mirror = x[:, :, ::-1]
        f = np.array([(w[k] * x).sum() for k in range(D)])
        m = np.array([(w[k] * mirror).sum() for k in range(D)])
        row = {"none": f, "sum": f + m, "concat": np.concatenate([f, m])}[flip]
        rows.append(row / np.sqrt((row**2).sum()) if normalize else row)
    return np.stack(rows)


@pytest.mark.parametrize("flip, normalize", [("sum", True), ("concat", True), ("none", False)])
def test_rows_match_the_closed_form_in_order(tmp_path, flip, normalize):
    names, arrays = _write_pngs(tmp_path, 7)
    model, w = _model()
    order = [5, 0, 3, 6, 1, 2, 4]  # the paths' order, not the folder's, decides the rows
    emb, paths = embed_files(model, [names[i] for i in order], tmp_path, flip=flip,
                             normalize=normalize, batch_size=3, workers=0, image_size=(H, W),
                             channels=3)
    assert emb.dtype == np.float32 and emb.shape == (7, 2 * D if flip == "concat" else D)
    assert paths == [names[i] for i in order]
    np.testing.assert_allclose(emb, _reference(arrays[order], w, flip, normalize), atol=1e-5)
    norms = np.linalg.norm(emb.astype(np.float64), axis=1)
    if normalize:
        np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    else:
        assert norms.min() > 1.5  # raw: the sums of ~150 weighted pixels are far from 1


def test_worker_processes_keep_the_order(tmp_path):
    names, arrays = _write_pngs(tmp_path, 9)
    model, w = _model()
    emb, _ = embed_files(model, names[::-1], tmp_path, batch_size=2, workers=2,
                         image_size=(H, W), channels=3)
    np.testing.assert_allclose(emb, _reference(arrays[::-1], w, "sum", True), atol=1e-5)


def test_gray_decoding_follows_channels(tmp_path):
    names, arrays = _write_pngs(tmp_path, 2)
    w = torch.randn(D, 1, H, W, generator=torch.Generator().manual_seed(3))
    emb, _ = embed_files(_Weighted(w), names, tmp_path, flip="none", normalize=False,
                         workers=0, image_size=(H, W), channels=1)
    gray = np.stack([np.asarray(Image.open(tmp_path / n).convert("L")) for n in names])
    want = np.einsum("nhw,khw->nk", gray / 255.0, w.double().numpy()[:, 0])
    np.testing.assert_allclose(emb, want, atol=1e-5)


def test_another_size_is_one_line_naming_both(tmp_path):
    names, _ = _write_pngs(tmp_path, 3)
    Image.new("RGB", (H, W)).save(tmp_path / "turned.png")  # PIL takes (width, height)
    model, _ = _model()
    with pytest.raises(HyperError) as e:
        embed_files(model, names + ["turned.png"], tmp_path, workers=0, image_size=(H, W),
                    channels=3, whence=" (the data meta of x.pt)")
    msg = str(e.value)
    assert "\n" not in msg and "turned.png" in msg
    assert f"is {W}x{H} (height x width)" in msg and f"takes {H}x{W} images" in msg
    assert "x.pt" in msg and "resize or align" in msg


def test_bad_arguments(tmp_path):
    names, _ = _write_pngs(tmp_path, 1)
    model, _ = _model()
    for kwargs, words in [({"flip": "mean"}, "--flip 'mean'"), ({"batch_size": 0}, "at least 1"),
                          ({"workers": -1}, "--workers -1")]:
        with pytest.raises(HyperError, match=words):
            embed_files(model, names, tmp_path, channels=3, **kwargs)
    with pytest.raises(HyperError, match="no image files"):
        embed_files(model, [], tmp_path)
    with pytest.raises(HyperError, match="does not exist"):
        embed_files(model, ["gone.png"], tmp_path, channels=3)


def test_non_finite_embeddings_are_refused(tmp_path):
    names, _ = _write_pngs(tmp_path, 2)
    model, _ = _model()
    with torch.no_grad():
        model.w[0, 0, 0, 0] = float("nan")
    with pytest.raises(HyperError, match="NaN or inf"):
        embed_files(model, names, tmp_path, workers=0, channels=3)


def test_input_size_takes_an_int_or_a_pair():
    assert input_size(112) == (112, 112)
    assert input_size([112, 96]) == (112, 96) and input_size((7, 6)) == (7, 6)
    for bad in (0, -3, True, [112], [112, 0], "112", 1.5, None):
        with pytest.raises(HyperError, match="expected a positive int"):
            input_size(bad)


def test_l2_normalize_against_float64():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1e-3, -2e-3]])
    got = l2_normalize(x).double().numpy()
    xd = x.double().numpy()
    want = [xd[0] / 5.0, [0.0, 0.0], xd[2] / np.sqrt(1e-6 + 4e-6)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_progress_lines_show_images_per_second(tmp_path):
    names, _ = _write_pngs(tmp_path, 4)
    buf = io.StringIO()
    embed_files(_model()[0], names, tmp_path, workers=0, channels=3, progress=True,
                console=Console(file=buf, width=30), batch_size=2)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embedded  4/4  ")
    assert lines[0].split("  ")[2].endswith(" img/s")
    bar = LineProgress(Console(file=io.StringIO()), stats="{ips:.0f} img/s")
    task = bar.add_task("x", total=2, ips=12.4)
    assert "  12 img/s  " in bar.line(task)


def test_safetensors_bytes_follow_the_format(tmp_path):
    emb = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    out = tmp_path / "e.safetensors"
    meta = {"format": "hyper-embeddings", "version": 1, "normalized": False, "flip": "sum"}
    save_embeddings(out, emb, ["a.png", "b c.png"], [4, 9], meta)
    raw = out.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"format": "hyper-embeddings", "version": "1",
                                      "normalized": "false", "flip": "sum"}
    assert header["labels"] == {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}
    assert header["embeddings"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [16, 40]}
    body = raw[8 + n:]
    assert len(body) == 40
    assert struct.unpack("<2q", body[:16]) == (4, 9)
    np.testing.assert_array_equal(np.array(struct.unpack("<6f", body[16:])).reshape(2, 3), emb)
    tensors = load_file(out)  # the library's own reader accepts it
    np.testing.assert_array_equal(tensors["embeddings"], emb)
    assert tensors["labels"].dtype == np.int64
    with safe_open(out, framework="np") as f:
        assert f.metadata()["normalized"] == "false"
    side = json.loads(sidecar_path(out).read_text())
    assert side == {**meta, "paths": ["a.png", "b c.png"], "labels": [4, 9]}
    save_embeddings(tmp_path / "e.npy", emb, ["a.png", "b c.png"], None, meta)
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy", allow_pickle=False), emb)
    assert "labels" not in json.loads((tmp_path / "e.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json", "e.npy", "e.safetensors"]


def test_check_output(tmp_path):
    for name, words in [("e.txt", "a .safetensors or .npy"), ("d.npy", "is a folder")]:
        (tmp_path / "d.npy").mkdir(exist_ok=True)
        with pytest.raises(HyperError, match=words):
            check_output(tmp_path / name)
    (tmp_path / "e.json").write_text("{}")  # the sidecar alone also blocks
    with pytest.raises(HyperError, match="e.json already exists; add --force"):
        check_output(tmp_path / "e.safetensors")
    check_output(tmp_path / "e.safetensors", force=True)


def test_atomic_open_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "e.npy"
    target.write_bytes(b"old")
    with pytest.raises(ZeroDivisionError):
        with atomic_open(target) as f:
            f.write(b"half")
            1 / 0  # noqa: B018
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["e.npy"]
    with atomic_open(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
