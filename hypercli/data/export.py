"""``export_dataset``: write any loadable dataset as folder, list, webdataset or recordio.

Layouts written (each with a ``dataset.json``: format, class names, channels, mean/std,
images per split, samples per shard):

- ``folder``: ``OUT/train/<NN-class>/<i>.png`` and ``OUT/test/...`` (class folders prefixed
  by their index so that sorted order is label order);
- ``list``: ``OUT/images/{train,test}/<i>.png`` plus ``OUT/train.txt``/``OUT/test.txt`` of
  ``images/train/<i>.png label`` lines;
- ``webdataset``: ``OUT/train-000000.tar ...`` of ``<key>.png`` + ``<key>.cls`` samples,
  written with the webdataset library's ``TarWriter``, ``shard_size`` samples per shard;
- ``recordio``: ``OUT/train.rec/.idx`` in insightface's layout (header record 0, the images
  sorted by class as records 1..N, one identity record per class), ``OUT/test.rec/.idx`` in
  im2rec's layout (no header), and ``OUT/property``.

The whole tree is written under ``OUT.partial`` and renamed to ``OUT`` at the end, so an
interrupted export leaves no half dataset behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from hypercli.engine.io import make_dirs
from hypercli.errors import HyperError

FORMATS = ("folder", "list", "webdataset", "recordio")


def _encode(img: torch.Tensor, image_format: str) -> bytes:
    """uint8 (C, H, W) -> PNG or JPEG (quality 95) bytes, encoded by Pillow."""
    import io

    from PIL import Image

    a = img.permute(1, 2, 0).numpy()
    pil = Image.fromarray(a[:, :, 0], "L") if a.shape[2] == 1 else Image.fromarray(a, "RGB")
    buf = io.BytesIO()
    pil.save(buf, "PNG" if image_format == "png" else "JPEG", quality=95)
    return buf.getvalue()


def _split_images(split: Any, limit: int | None) -> Iterator[tuple[torch.Tensor, int]]:
    """(uint8 (C, H, W), label) of an in-memory ``Split`` or a ``StreamSplit``."""
    n = 0
    batches = ((split.images[i : i + 1000], split.labels[i : i + 1000])
               for i in range(0, len(split), 1000)) if hasattr(split, "images") \
        else split.batches(1000)
    for x, y in batches:
        for img, label in zip(x, y.tolist()):
            if limit is not None and n >= limit:
                return
            yield img, int(label)
            n += 1


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "class"


def export_dataset(data: Any, fmt: str, out: str | Path, *, limit: int | None = None,
                   test_limit: int | None = None, image_format: str = "png", shard_size: int = 1000,
                   source: str = "") -> dict[str, Any]:
    """Write ``data`` (``Splits``/``StreamData``/``RawDataset``: train and test) to ``out``.

    ``limit``: at most this many images per split (the first ones); ``test_limit``: for
    the test split, if given (``limit`` otherwise). Returns the contents
    of the ``dataset.json`` written.
    """
    from hypercli.data.readers.recordio import HEADER, pack_payload, pack_record

    if fmt not in FORMATS:
        raise HyperError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if image_format not in ("png", "jpg"):
        raise HyperError(f"--image-format {image_format!r}: use png or jpg")
    if shard_size < 1:
        raise HyperError("--shard-size must be at least 1")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HyperError(f"{out} is a file, not a folder; choose another OUT")
    if out.exists() and any(out.iterdir()):
        raise HyperError(f"{out} already exists and is not empty; choose another OUT")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    make_dirs(tmp)  # a path under a file, a read-only folder: one line naming the path
    names = list(data.class_names)
    ext = image_format
    info: dict[str, Any] = {"format": fmt, "source": source, "class_names": names,
                            "mean": list(data.mean), "std": list(data.std), "splits": {},
                            "shards": {}}
    for split_name in ("train", "test"):
        split = getattr(data, split_name)
        n, lim = 0, (test_limit or limit) if split_name == "test" else limit
        if fmt == "folder":
            dirs = [tmp / split_name / f"{c:0{len(str(len(names)))}d}-{_safe(name)}"
                    for c, name in enumerate(names)]
            for img, label in _split_images(split, lim):  # class folders as used
                dirs[label].mkdir(parents=True, exist_ok=True)
                (dirs[label] / f"{n:08d}.{ext}").write_bytes(_encode(img, ext))
                n += 1
        elif fmt == "list":
            (tmp / "images" / split_name).mkdir(parents=True)
            lines = []
            for img, label in _split_images(split, lim):
                rel = f"images/{split_name}/{n:08d}.{ext}"
                (tmp / rel).write_bytes(_encode(img, ext))
                lines.append(f"{rel} {label}\n")
                n += 1
            (tmp / f"{split_name}.txt").write_text("".join(lines))
        elif fmt == "webdataset":
            from webdataset import TarWriter

            writer, shard = None, -1
            for img, label in _split_images(split, lim):
                if n % shard_size == 0:
                    if writer is not None:
                        writer.close()
                    shard += 1
                    name = f"{split_name}-{shard:06d}.tar"
                    writer = TarWriter(str(tmp / name), encoder=False)
                    info["shards"][name] = 0
                writer.write({"__key__": f"{n:08d}", ext: _encode(img, ext),
                              "cls": str(label).encode()})
                info["shards"][name] += 1
                n += 1
            if writer is not None:
                writer.close()
        else:
            items = [(_encode(img, ext), label) for img, label in _split_images(split, lim)]
            n = len(items)
            records: list[bytes] = []
            if split_name == "train":  # insightface: header, images by class, identities
                items.sort(key=lambda t: t[1])
                first_id = n + 1
                records.append(pack_payload(b"", [float(first_id), float(first_id + len(names))]))
                records += [pack_payload(b, float(lab)) for b, lab in items]
                start = 1
                for c in range(len(names)):
                    end = start + sum(1 for _, lab in items if lab == c)
                    records.append(HEADER.pack(2, 0.0, 0, 0) + struct.pack("<2f", start, end))
                    start = end
            else:  # im2rec: every record an image
                records = [pack_payload(b, float(lab), i) for i, (b, lab) in enumerate(items)]
            offsets, pos = [], 0
            with open(tmp / f"{split_name}.rec", "wb") as f:
                for r in records:
                    packed = pack_record(r)
                    offsets.append(pos)
                    f.write(packed)
                    pos += len(packed)
            (tmp / f"{split_name}.idx").write_text(
                "".join(f"{k}\t{o}\n" for k, o in enumerate(offsets)))
            if split_name == "train":
                first = items[0][0] if items else b""
                _, h, w = _decode_shape(first)
                (tmp / "property").write_text(f"{len(names)},{h},{w}\n")
        info["splits"][split_name] = n
        if split_name == "train" and n:
            info["channels"] = int(next(_split_images(split, 1))[0].shape[0])
    if fmt != "webdataset":
        del info["shards"]
    (tmp / "dataset.json").write_text(json.dumps(info, indent=1) + "\n")
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    return info


def _decode_shape(data: bytes) -> tuple[int, int, int]:
    from hypercli.data.stream import decode

    return tuple(decode(data, 3).shape) if data else (0, 0, 0)  # type: ignore[return-value]
