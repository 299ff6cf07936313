"""Fashion-MNIST (Xiao et al. 2017) read straight from the original gzip IDX files.

Debian's package ``dataset-fashion-mnist`` installs them in /usr/share/datasets/fashion-mnist;
any directory holding the four ``*-ubyte.gz`` (or unzipped) files works as ``data.root``.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from hypercli.data.base import RawDataset, Split
from hypercli.errors import HyperError
from hypercli.registry import DATASETS

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or plain): big-endian magic 0x00000800 | ndim, dims, uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise HyperError(f"cannot read {path}: {exc}; reinstall the data files") from None
    if len(data) < 4:
        raise HyperError(f"{path} is not an IDX file (too short)")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise HyperError(f"{path} is not a uint8 IDX file (magic {data[:4].hex()})")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise HyperError(f"{path} is truncated: {body.size} values for shape {dims}")
    return body.reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    raise HyperError(
        f"Fashion-MNIST file {stem}.gz not found in {root}; install it with "
        f"`apt-get install dataset-fashion-mnist` (puts it in {DEFAULT_ROOT}) "
        "or set data.root to a directory holding the four IDX files"
    )


@DATASETS.register("fashion-mnist")
def fashion_mnist(root: str | None = None, download: bool = False) -> RawDataset:
    """Fashion-MNIST: 60k/10k 28x28 grayscale images, 10 classes (default dataset)."""
    base = Path(root or DEFAULT_ROOT)
    splits = {}
    for split, (img_stem, lbl_stem) in FILES.items():
        images = read_idx(_find(base, img_stem))
        labels = read_idx(_find(base, lbl_stem))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise HyperError(f"Fashion-MNIST files in {base} have inconsistent shapes")
        splits[split] = Split(
            torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
        )
    return RawDataset(splits["train"], splits["test"], CLASSES, mean=[0.2860], std=[0.3530])
