"""Dataset readers against files written here in the real formats; splits; imbalance."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from hypercli.data import load_data, load_raw
from hypercli.data.fashion_mnist import read_idx
from hypercli.errors import HyperError
from hypercli.recipe import DataConfig, Imbalance


def write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_fmnist(root, n_train=20, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for stem, n in [("train", n_train), ("t10k", n_test)]:
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(root / f"{stem}-images-idx3-ubyte.gz", x)
        write_idx(root / f"{stem}-labels-idx1-ubyte.gz", y)
        arrays[stem] = (x, y)
    return arrays


def test_idx_roundtrip_and_errors(tmp_path):
    arrays = fake_fmnist(tmp_path)
    raw = load_raw(DataConfig(root=str(tmp_path)))
    x, y = arrays["train"]
    assert torch.equal(raw.train.images[:, 0], torch.from_numpy(x))
    assert torch.equal(raw.train.labels, torch.from_numpy(y.astype(np.int64)))
    assert raw.test.images.shape == (10, 1, 28, 28)
    # truncated file
    data = gzip.open(tmp_path / "train-images-idx3-ubyte.gz").read()
    with gzip.open(tmp_path / "cut-idx3-ubyte.gz", "wb") as f:
        f.write(data[:-5])
    with pytest.raises(HyperError, match="truncated"):
        read_idx(tmp_path / "cut-idx3-ubyte.gz")


def test_missing_fmnist_says_how_to_get_it(tmp_path):
    with pytest.raises(HyperError, match="apt-get install dataset-fashion-mnist"):
        load_raw(DataConfig(root=str(tmp_path)))


def test_real_fashion_mnist_is_installed():
    raw = load_raw(DataConfig())
    assert raw.train.images.shape == (60000, 1, 28, 28) and raw.test.images.shape[0] == 10000
    assert torch.bincount(raw.train.labels).tolist() == [6000] * 10


def write_cifar(root, variant: str, n_per_file=6, seed=0):
    """Files in the real layout: pickled dicts with bytes keys and numpy arrays."""
    rng = np.random.default_rng(seed)
    if variant == "cifar10":
        d = root / "cifar-10-batches-py"
        d.mkdir(parents=True)
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        label_key, k = b"labels", 10
        meta = ("batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    else:
        d = root / "cifar-100-python"
        d.mkdir(parents=True)
        files, label_key, k = ["train", "test"], b"fine_labels", 100
        meta = ("meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)]})
    written = {}
    for name in files:
        x = rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
        y = rng.integers(0, k, n_per_file).tolist()
        with open(d / name, "wb") as f:
            pickle.dump({b"data": x, label_key: y, b"batch_label": name.encode()}, f)
        written[name] = (x, y)
    with open(d / meta[0], "wb") as f:
        pickle.dump(meta[1], f)
    return written


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_reader_real_format(tmp_path, variant):
    written = write_cifar(tmp_path, variant)
    raw = load_raw(DataConfig(name=variant, root=str(tmp_path)))
    train_files = [f for f in written if f not in ("test_batch", "test")]
    x0, y0 = written[train_files[0]]
    assert raw.train.images.shape == (6 * len(train_files), 3, 32, 32)
    # row-major 3072 = 3 x 32 x 32 (channel planes), as the CIFAR page documents
    assert raw.train.images[0, 1, 2, 3] == x0[0, 1 * 1024 + 2 * 32 + 3]
    assert raw.train.labels[: len(y0)].tolist() == y0
    assert len(raw.class_names) == (10 if variant == "cifar10" else 100)
    means = raw.train.images.double().div(255).mean(dim=(0, 2, 3))
    assert np.allclose(raw.mean, means.numpy(), atol=1e-5)


def test_cifar_missing_and_malicious(tmp_path):
    with pytest.raises(HyperError, match="cifar-10-batches-py"):
        load_raw(DataConfig(name="cifar10", root=str(tmp_path)))
    write_cifar(tmp_path, "cifar10")

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(HyperError, match="not a valid CIFAR batch file.*builtins.print"):
        load_raw(DataConfig(name="cifar10", root=str(tmp_path)))


def test_splits_subset_classes_val():
    cfg = DataConfig(name="synthetic", args={"train_size": 400, "test_size": 100},
                     classes=[3, 1], val_split=0.25, subset=50)
    s = load_data(cfg, seed=0)
    raw = load_raw(cfg)
    n_kept = int(torch.isin(raw.train.labels, torch.tensor([3, 1])).sum())
    assert s.class_names == ["class3", "class1"]
    assert set(s.train.labels.tolist()) <= {0, 1} and len(s.train) == 50
    assert len(s.val) == round(0.25 * n_kept)
    assert int(torch.isin(raw.test.labels, torch.tensor([3, 1])).sum()) == len(s.test)
    # relabelled: class 3 -> 0, class 1 -> 1
    assert (s.test.labels == 0).sum() == (raw.test.labels == 3).sum()
    # deterministic
    assert torch.equal(load_data(cfg, seed=0).train.images, s.train.images)


@pytest.mark.parametrize("imb", [
    Imbalance(kind="single", classes=[2], ratios=[0.1]),
    Imbalance(kind="multiple", classes=[0, 5, 7], ratios=[0.5, 0.2, 0.05]),
])
def test_imbalance_counts(imb):
    base = DataConfig(name="synthetic", args={"train_size": 2000})
    full = torch.bincount(load_data(base).train.labels, minlength=10)
    cut = torch.bincount(load_data(base.model_copy(update={"imbalance": imb})).train.labels,
                         minlength=10)
    for c in range(10):
        if c in imb.classes:
            r = imb.ratios[imb.classes.index(c)]
            assert cut[c] == int(np.ceil(r * int(full[c])))
        else:
            assert cut[c] == full[c]
