"""The files ``hyper embed`` writes: an (N, D) float32 matrix and a JSON sidecar.

- ``emb.safetensors``: tensor ``embeddings`` (N, D) float32 and, when the image list had
  labels, ``labels`` (N,) int64; the string metadata holds ``META_KEYS``. Written from the
  format's specification (huggingface/safetensors README, "Format"): an unsigned 64-bit
  little-endian header length, a UTF-8 JSON header (``{name: {dtype, shape,
  data_offsets: [begin, end]}}`` with offsets into the data buffer, plus ``__metadata__``,
  a string-to-string map), padded with spaces to a multiple of 8 bytes, then the
  little-endian tensor bytes back to back.
- ``emb.npy``: numpy's .npy format (``numpy.lib.format``) holding the matrix alone.
- ``emb.json`` beside either: the same metadata as JSON values, ``paths`` (the images, in
  the matrix's row order, relative to ``root``) and ``labels`` when there are any.

Nothing of hyper is needed to read them::

    from safetensors.numpy import load_file; import json
    emb = load_file("emb.safetensors")["embeddings"]       # or numpy.load("emb.npy")
    paths = json.load(open("emb.json"))["paths"]

Both files are written atomically (temp file, fsync, rename), the matrix first, and straight
from the array: no second copy of it is made in memory.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from hypercli.engine.io import atomic_open, atomic_write_text
from hypercli.errors import HyperError

FORMAT = "hyper-embeddings"
VERSION = 1
SUFFIXES = (".safetensors", ".npy")
META_KEYS = ("format", "version", "checkpoint", "recipe", "flip", "normalized", "count",
             "dim", "images", "root")
_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}


def sidecar_path(out: str | os.PathLike[str]) -> Path:
    """``emb.json`` for ``emb.safetensors`` or ``emb.npy``."""
    return Path(out).with_suffix(".json")


def check_output(out: str | os.PathLike[str], force: bool = False) -> None:
    """Raise ``HyperError`` unless ``out`` can be written: a ``.safetensors`` or ``.npy``
    file name, not a folder, and (without ``force``) neither it nor its sidecar exists."""
    p = Path(out)
    if p.suffix not in SUFFIXES:
        raise HyperError(f"--out {str(out)!r}: name a .safetensors or .npy file (e.g. "
                         "emb.safetensors); the paths go to a .json file beside it")
    if p.is_dir():
        raise HyperError(f"--out {str(out)!r} is a folder; give a file name such as "
                         f"{p / 'emb.safetensors'}")
    if not force:
        for q in (p, sidecar_path(p)):
            if q.exists():
                raise HyperError(f"{q} already exists; add --force to overwrite it or choose "
                                 "another --out")


def safetensors_header(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The length prefix and JSON header of a safetensors file holding ``tensors`` (written
    after it in this order); ``metadata`` maps strings to strings."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, a in tensors.items():
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned
    return struct.pack("<Q", len(text)) + text


def _string_meta(meta: dict[str, Any]) -> dict[str, str]:
    return {k: (("true" if v else "false") if isinstance(v, bool) else str(v))
            for k, v in meta.items()}


def save_embeddings(out: str | os.PathLike[str], embeddings: np.ndarray, paths: list[str],
                    labels: list[int] | None, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``embeddings`` (N, D) to ``out`` (.safetensors or .npy, by its suffix) and the
    sidecar ``paths``, ``labels`` and ``meta`` to ``sidecar_path(out)``; returns both paths.

    ``meta``: JSON values (the safetensors metadata gets them as strings, booleans as
    ``true``/``false``). Raises ``HyperError`` naming the path when a write fails."""
    p = Path(out)
    if p.suffix not in SUFFIXES:
        raise HyperError(f"--out {str(out)!r}: name a .safetensors or .npy file")
    emb = np.ascontiguousarray(embeddings, dtype="<f4")
    if emb.ndim != 2 or len(emb) != len(paths):
        raise ValueError(f"embeddings {emb.shape} do not match {len(paths)} paths")
    lab = None if labels is None else np.ascontiguousarray(labels, dtype="<i8")
    if lab is not None and lab.shape != (len(paths),):
        raise ValueError(f"{lab.shape} labels do not match {len(paths)} paths")
    with atomic_open(p) as f:
        if p.suffix == ".npy":
            np.lib.format.write_array(f, emb, allow_pickle=False)
        else:
            # labels (8-byte) first, so both tensors start 8-byte aligned
            tensors = {"labels": lab} if lab is not None else {}
            tensors["embeddings"] = emb
            f.write(safetensors_header(tensors, _string_meta(meta)))
            for a in tensors.values():
                f.write(memoryview(a).cast("B"))
    side = sidecar_path(p)
    doc = {**meta, "paths": list(paths)}
    if labels is not None:
        doc["labels"] = [int(v) for v in labels]
    atomic_write_text(side, json.dumps(doc, indent=1) + "\n")
    return p, side
