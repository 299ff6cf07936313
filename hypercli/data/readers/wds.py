"""``webdataset``: tar shards ``name-{000000..000123}.tar`` of ``key.jpg`` + ``key.cls``
samples (Aizman et al. 2019, the ``webdataset`` library, which also reads them).

``data.args.train`` / ``data.args.test``: shard patterns relative to ``data.root``, with
braces (``train-{000000..000009}.tar``) or globs (default ``train-*.tar`` and
``test-*.tar``). The samples per shard come from ``dataset.json`` (written by
``hyper data export``); without it the shards' member lists are scanned once (tar headers
only). Splitting over ranks and workers, shard shuffling and the sample buffer live in
``hypercli.data.stream``.
"""

from __future__ import annotations

import glob
import tarfile
from pathlib import Path

import braceexpand

from hypercli.data.readers.base import Found, Shard, ShardReader, check_root, read_info
from hypercli.errors import HyperError
from hypercli.registry import READERS

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp", "ppm", "bmp")


def expand_shards(root: Path, pattern: str) -> list[Path]:
    """Shard paths of a brace and/or glob pattern relative to ``root``, in pattern order."""
    paths: list[Path] = []
    for part in braceexpand.braceexpand(pattern):
        full = str(root / part)
        if any(c in part for c in "*?["):
            paths += [Path(p) for p in sorted(glob.glob(full))]
        else:
            if not Path(full).is_file():
                raise HyperError(f"shard {full} of the pattern {pattern!r} does not exist")
            paths.append(Path(full))
    if not paths:
        raise HyperError(f"the shard pattern {root / pattern} matches no files; set "
                         "data.args.train (e.g. 'train-{000000..000099}.tar') relative to "
                         "data.root")
    return paths


def scan_shard(path: Path) -> tuple[int, int]:
    """(samples, largest class index) of a shard, reading tar headers and ``.cls`` members."""
    keys, top = set(), -1
    try:
        with tarfile.open(path) as tar:
            for m in tar:
                if not m.isfile() or "." not in m.name:
                    continue
                key, ext = m.name.split(".", 1)
                if ext == "cls":
                    keys.add(key)
                    f = tar.extractfile(m)
                    try:
                        top = max(top, int(f.read().decode().strip()) if f else -1)
                    except ValueError:
                        raise HyperError(f"{path}: {m.name} holds no integer class") from None
    except tarfile.TarError as exc:
        raise HyperError(f"{path} is not a readable tar shard: {exc}") from None
    return len(keys), top


def shard_reader(root: Path, pattern: str, counts: dict[str, int]) -> tuple[ShardReader, int]:
    shards, top = [], -1
    for p in expand_shards(root, pattern):
        if p.name in counts:
            shards.append(Shard(p, int(counts[p.name])))
        else:
            n, t = scan_shard(p)
            shards.append(Shard(p, n))
            top = max(top, t)
    return ShardReader(shards), top


@READERS.register("webdataset")
def webdataset(root: str | None = None, train: str = "train-*.tar",
               test: str | None = None) -> Found:
    """WebDataset tar shards of key.jpg + key.cls samples (split over ranks and workers)."""
    base = check_root(root, "webdataset")
    info = read_info(base)
    counts = info.get("shards", {})
    reader, top = shard_reader(base, train, counts)
    te = None
    if test is not None or glob.glob(str(base / "test-*.tar")):
        te, t2 = shard_reader(base, test or "test-*.tar", counts)
        top = max(top, t2)
    names = info.get("class_names")
    k = len(names) if names else top + 1
    if k <= 0:
        raise HyperError(f"{base}: no .cls members found in the shards, and no dataset.json "
                         "naming the classes")
    return Found("webdataset", base, reader, te, class_names=names, num_classes=k, info=info)
