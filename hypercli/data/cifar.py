"""CIFAR-10 / CIFAR-100 (Krizhevsky 2009) from a directory in torchvision's layout.

The files are Python pickles; they are read with an unpickler that only admits the plain
containers and numpy arrays the real files hold, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hypercli.data.base import RawDataset, Split
from hypercli.errors import HyperError
from hypercli.registry import DATASETS

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def safe_unpickle(path: Path) -> Any:
    """Load a CIFAR pickle without executing arbitrary code."""
    try:
        return _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise HyperError(f"{path} is not a valid CIFAR batch file: {exc}") from None


def _batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    d = safe_unpickle(path)
    if not isinstance(d, dict):
        raise HyperError(f"{path} is not a valid CIFAR batch file (no dict inside)")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or label_key not in d:
        raise HyperError(f"{path} lacks 'data' or '{label_key}'; is it a CIFAR file?")
    data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(d[label_key], dtype=np.int64)
    return data, labels


def _names(path: Path, key: str) -> list[str]:
    d = safe_unpickle(path)
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    return [n.decode() if isinstance(n, bytes) else str(n) for n in d[key]]


def _load(root: str | None, download: bool, variant: str) -> RawDataset:
    base = Path(root or "data").expanduser()
    folder, train_files, test_file, label_key, meta, names_key = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                    "test_batch", "labels", "batches.meta", "label_names"),
        "cifar100": ("cifar-100-python", ["train"], "test", "fine_labels", "meta",
                     "fine_label_names"),
    }[variant]
    d = base / folder
    if not d.is_dir() and download:
        from torchvision import datasets

        cls = datasets.CIFAR10 if variant == "cifar10" else datasets.CIFAR100
        try:
            cls(str(base), train=True, download=True)
        except Exception as exc:  # network errors come in many types
            raise HyperError(f"downloading {variant} into {base} failed: {exc}") from None
    missing = [f for f in [*train_files, test_file, meta] if not (d / f).is_file()]
    if missing:
        raise HyperError(
            f"{variant} not found: looked for {d}/{missing[0]}; put the python version of the "
            f"dataset (torchvision layout) under data.root={base} or add --download "
            "(data.download=true) on a machine that is online"
        )
    parts = [_batch(d / f, label_key) for f in train_files]
    train = Split(torch.from_numpy(np.concatenate([p[0] for p in parts])),
                  torch.from_numpy(np.concatenate([p[1] for p in parts])))
    xt, yt = _batch(d / test_file, label_key)
    names = _names(d / meta, names_key)
    mean = (train.images.float() / 255).mean(dim=(0, 2, 3)).tolist()
    std = (train.images.float() / 255).std(dim=(0, 2, 3)).tolist()
    return RawDataset(train, Split(torch.from_numpy(xt), torch.from_numpy(yt)), names, mean, std)


@DATASETS.register("cifar10")
def cifar10(root: str | None = None, download: bool = False) -> RawDataset:
    """CIFAR-10: 50k/10k 32x32 colour images, 10 classes (from data.root, torchvision layout)."""
    return _load(root, download, "cifar10")


@DATASETS.register("cifar100")
def cifar100(root: str | None = None, download: bool = False) -> RawDataset:
    """CIFAR-100: 50k/10k 32x32 colour images, 100 classes (from data.root)."""
    return _load(root, download, "cifar100")
