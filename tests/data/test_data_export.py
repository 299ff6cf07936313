"""The real Fashion-MNIST exported to each format reads back pixel for pixel; CLI; training."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from hypercli.cli.main import app
from hypercli.data import build_data, load_raw
from hypercli.data.export import export_dataset
from hypercli.recipe import DataConfig, build_recipe
from tests.conftest import tiny_tree

FORMATS = ["folder", "list", "webdataset", "recordio"]
N = 40


@pytest.fixture(scope="module")
def fmnist():
    return load_raw(DataConfig())


@pytest.fixture(scope="module")
def exported(fmnist, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    for fmt in FORMATS:
        export_dataset(fmnist, fmt, root / fmt, limit=N, shard_size=16, source="fashion-mnist")
    return root


def pairs(split) -> list[tuple[bytes, int]]:
    out = []
    for x, y in split.batches(16):
        out += [(img.numpy().tobytes(), int(lab)) for img, lab in zip(x, y)]
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_reads_back_exactly(fmnist, exported, fmt):
    data = build_data(DataConfig(name=fmt, root=str(exported / fmt), workers=0))
    assert data.class_names == fmnist.class_names and data.in_channels == 1
    assert data.image_size == 28 and data.mean == fmnist.mean
    for name in ("train", "test"):
        ref = getattr(fmnist, name)
        want = sorted((ref.images[i].numpy().tobytes(), int(ref.labels[i])) for i in range(N))
        assert sorted(pairs(getattr(data, name))) == want  # PNG is lossless
    info = json.loads((exported / fmt / "dataset.json").read_text())
    assert info["splits"] == {"train": N, "test": N}


def test_recordio_export_is_insightface_layout(exported, fmnist):
    from hypercli.data.readers.recordio import RecordReader

    r = RecordReader(exported / "recordio" / "train.rec", exported / "recordio" / "train.idx")
    assert r.keys == list(range(1, N + 1)) and r.num_classes == 10
    labels = [r.read(i)[1] for i in range(N)]
    assert labels == sorted(fmnist.train.labels[:N].tolist())
    flag, (start, end), _ = r.header(N + 1)  # identity record of class 0
    assert flag == 2 and (start, end) == (1, 1 + labels.count(0))
    assert (exported / "recordio" / "property").read_text() == "10,28,28\n"


def test_cli_export_info_and_errors(exported, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["data", "info", str(exported / "webdataset"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["format"] == "webdataset" and info["splits"]["train"]["shards"] == 3
    assert info["splits"]["train"]["images"] == N and info["num_classes"] == 10
    res = runner.invoke(app, ["data", "info", str(exported / "folder")])
    assert res.exit_code == 0 and "folder, 10 classes" in res.output
    res = runner.invoke(app, ["data", "export", "fashion-mnist", str(exported / "folder"),
                              "--format", "folder", "--limit", "2"])
    assert res.exit_code == 2 and "already exists and is not empty" in res.output
    res = runner.invoke(app, ["data", "info", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["data", "export", "folder", str(tmp_path / "again"), "--format",
                              "list", "--root", str(exported / "folder"), "--limit", "5"])
    assert res.exit_code == 0, res.output  # any loadable dataset, a format too
    assert len((tmp_path / "again" / "train.txt").read_text().splitlines()) == 5


def test_folder_and_recordio_exports_train_identically(exported):
    """Both list the images class by class in file order, so the same recipe and seed see
    the same batches: the two readers must agree to the last bit."""
    from hypercli.engine import train

    out = {}
    for fmt in ("folder", "recordio"):
        recipe = build_recipe(tiny_tree(
            data={"name": fmt, "root": str(exported / fmt), "args": {}, "batch_size": 8,
                  "augment": ["crop", "flip"], "workers": 0},
            train={"epochs": 1, "device": "cpu"}))
        out[fmt] = train(recipe, exported / f"run-{fmt}", progress=False)
    assert out["folder"]["train_loss"] == out["recordio"]["train_loss"]
    assert out["folder"]["test_accuracy"] == out["recordio"]["test_accuracy"]
    metrics = json.loads((exported / "run-folder" / "metrics.jsonl").read_text().splitlines()[0])
    assert 0.0 <= metrics["data_wait"] <= 1.0


def test_in_memory_path_is_unchanged(tiny_recipe):
    """build_data on an in-memory dataset is load_data + BatchLoader, batch for batch."""
    from hypercli.data import BatchLoader, load_data

    cfg = tiny_recipe.data.model_copy(update={"augment": ["crop", "flip"]})
    data = build_data(cfg, 5)
    ref = load_data(cfg, 5)
    a = data.train_loader(cfg, 5, torch.device("cpu"))
    b = BatchLoader(ref.train, cfg.batch_size, shuffle=True, augment=("crop", "flip"),
                    pad=cfg.pad, seed=5)
    a.set_epoch(1)
    b.set_epoch(1)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
