"""The reader interface: one split of a dataset kept on disk, read one encoded sample at a time.

Modelled on timm's readers chosen by name (``timm/data/readers/reader_factory.py``): a
format is a reader class plus a builder registered in ``hypercli.registry.READERS`` that
returns the splits it finds under ``data.root``. Everything after the encoded bytes
(decoding in DataLoader workers, transforms, sharding over ranks, batching) is shared and
lives in ``hypercli.data.stream``; the engine only asks for batches.

Two kinds of reader:

- ``IndexReader``: random access, ``read(i) -> (encoded image bytes, label)`` for
  ``i in range(len(reader))`` (``folder``, ``list``, ``recordio``). Any sample order can be
  drawn, so a run resumes in the middle of an epoch exactly.
- ``ShardReader``: a list of tar shards read front to back (``webdataset``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypercli.errors import HyperError

# class names, channels, mean/std, counts; written by `hyper data export`
INFO_FILE = "dataset.json"


class IndexReader:
    """Random access to the encoded samples of one split."""

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, i: int) -> tuple[bytes, int]:
        """The encoded image (JPEG, PNG, ...) of sample ``i`` and its class index."""
        raise NotImplementedError

    def describe(self, i: int) -> str:
        """Where sample ``i`` lives (a file name, a byte offset), for error messages."""
        return f"sample {i}"

    def labels(self) -> list[int] | None:
        """All labels when they are known without reading the images, else ``None``."""
        return None


class FilesReader(IndexReader):
    """Samples that are image files: ``root / files[i]`` with label ``_labels[i]``
    (``folder`` and ``list`` fill the two lists, each from its own layout)."""

    root: Path
    files: list[str]
    _labels: list[int]

    def __len__(self) -> int:
        return len(self.files)

    def read(self, i: int) -> tuple[bytes, int]:
        with open(self.root / self.files[i], "rb") as f:
            return f.read(), self._labels[i]

    def describe(self, i: int) -> str:
        return str(self.root / self.files[i])

    def labels(self) -> list[int]:
        return self._labels


class SubsetReader(IndexReader):
    """The samples ``indices`` of another reader (validation splits, ``data.subset``)."""

    def __init__(self, base: IndexReader, indices: list[int]) -> None:
        self.base, self.indices = base, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def read(self, i: int) -> tuple[bytes, int]:
        return self.base.read(self.indices[i])

    def describe(self, i: int) -> str:
        return self.base.describe(self.indices[i])

    def labels(self) -> list[int] | None:
        lab = self.base.labels()
        return None if lab is None else [lab[i] for i in self.indices]


@dataclass
class Shard:
    path: Path
    count: int  # samples in the shard


class ShardReader:
    """Tar shards read sequentially; ``len`` is the number of samples in all shards."""

    def __init__(self, shards: list[Shard]) -> None:
        self.shards = shards

    def __len__(self) -> int:
        return sum(s.count for s in self.shards)


Reader = IndexReader | ShardReader


@dataclass
class Found:
    """What a format's builder returns: the splits under ``root`` and what is known of them.

    ``test`` is ``None`` when the dataset has no separate test split; the run then holds
    ``data.val_split`` of the training split out as its test split.
    """

    format: str
    root: Path
    train: Reader
    test: Reader | None = None
    class_names: list[str] | None = None  # None: "0", "1", ... up to num_classes
    num_classes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)  # dataset.json, if any


def check_root(root: str | None, fmt: str) -> Path:
    if root is None:
        raise HyperError(f"data.name={fmt} reads from disk: set data.root to the dataset "
                         "directory (e.g. --set data.root=/data/imagenet)")
    path = Path(root).expanduser()
    if not path.exists():
        raise HyperError(f"data.root {path} does not exist; point data.root at the "
                         f"{fmt} dataset (see `hyper data info ROOT`)")
    return path


def read_info(root: Path) -> dict[str, Any]:
    """``root/dataset.json`` (as `hyper data export` writes it), or ``{}``."""
    path = root / INFO_FILE if root.is_dir() else root.parent / INFO_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HyperError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    if not isinstance(info, dict):
        raise HyperError(f"{path} must hold a JSON object; fix or delete it")
    return info
