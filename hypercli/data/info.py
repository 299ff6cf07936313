"""``dataset_info(root)``: what a dataset on disk holds (format, classes, images, sizes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypercli.errors import HyperError


def guess_format(root: Path) -> str:
    """The format of ``root`` from its files: .rec, .tar shards, list files, else folders."""
    if not root.exists():
        raise HyperError(f"{root} does not exist")
    if root.is_file():
        return {".rec": "recordio", ".tar": "webdataset", ".txt": "list"}.get(
            root.suffix, "folder")
    names = {p.name for p in root.iterdir()}
    if any(n.endswith(".rec") for n in names):
        return "recordio"
    if any(n.endswith(".tar") for n in names):
        return "webdataset"
    if "train.txt" in names:
        return "list"
    return "folder"


def dataset_info(root: str | Path, fmt: str | None = None, args: dict | None = None,
                 sample: int = 64) -> dict[str, Any]:
    """Format, classes, images per split and the sizes of the first ``sample`` images."""
    from hypercli.data.build import find
    from hypercli.data.readers.base import IndexReader
    from hypercli.data.stream import decode
    from hypercli.recipe import DataConfig

    root = Path(root).expanduser()
    fmt = fmt or guess_format(root)
    found = find(DataConfig(name=fmt, root=str(root), args=args or {}))
    out: dict[str, Any] = {"root": str(root), "format": fmt, "num_classes": found.num_classes
                           or len(found.class_names or []),
                           "class_names": found.class_names, "splits": {}}
    for name in ("train", "test"):
        reader = getattr(found, name)
        if reader is None:
            continue
        entry: dict[str, Any] = {"images": len(reader)}
        if isinstance(reader, IndexReader):
            sizes = set()
            for i in range(min(sample, len(reader))):
                data, _ = reader.read(i)
                try:
                    img = decode(data, 3)
                except Exception:
                    raise HyperError(f"{reader.describe(i)}: not a readable image") from None
                sizes.add(f"{img.shape[2]}x{img.shape[1]}")
            entry["sizes"] = sorted(sizes)
            labels = reader.labels()
            if labels is not None:
                entry["images_per_class"] = [labels.count(c) for c in range(out["num_classes"])] \
                    if out["num_classes"] <= 1000 else None
        else:
            entry["shards"] = len(reader.shards)
            counts = sorted({s.count for s in reader.shards})
            entry["samples_per_shard"] = counts if len(counts) <= 4 else [counts[0], counts[-1]]
        out["splits"][name] = entry
    from hypercli.data.build import first_image

    img = first_image(found.train)
    out["channels"] = int(found.info.get("channels") or img.shape[0])
    out["first_image"] = f"{img.shape[2]}x{img.shape[1]}"
    return out
