"""``load_set``: a verification set from any of its files, decoded once for many evaluations.

The format is told from the file: an insightface ``.bin`` (the suffix, or a binary pickle),
LFW's ``pairs.txt`` (a first line of one or two integers, ``10<TAB>300``) or a
``label path0 path1`` pair list. The images are decoded into memory once, so a training run
loads its sets at the start and calls ``verify`` every N steps without reading a file::

    sets = [load_set(p, channels=3) for p in ("lfw.bin", "cfp_fp.bin", "agedb_30.bin")]
    for vset in sets:
        print(vset.name, verify(model, vset, "insightface")["accuracy"])
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from hypercli.errors import HyperError
from hypercli.verification.bin import read_bin
from hypercli.verification.dataset import VerificationSet
from hypercli.verification.pairs import read_pair_list, read_pairs_txt


def set_format(path: str | os.PathLike[str]) -> str:
    """``"bin"``, ``"pairs.txt"`` or ``"pair-list"``: the format of the file at ``path``.
    Raises ``HyperError`` for a missing file or one of none of these formats."""
    p = Path(path)
    if not p.is_file():
        raise HyperError(f"{p} does not exist (a verification set is a .bin, a pairs.txt or a "
                         "pair list)")
    with open(p, "rb") as f:
        start = f.read(4096)
    if p.suffix.lower() == ".bin" or start[:1] == b"\x80":  # pickle protocol >= 2
        return "bin"
    try:
        text = start.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    first = next((line.split() for line in text.splitlines() if line.strip()), [])
    if 1 <= len(first) <= 2 and all(f.isdigit() for f in first):
        return "pairs.txt"
    if len(first) == 3 and first[0] in ("0", "1"):
        return "pair-list"
    raise HyperError(f"{p}: not a verification set: expected an insightface .bin, an LFW "
                     "pairs.txt (header '10\\t300') or a pair list ('label path0 path1' lines)")


def load_set(path: str | os.PathLike[str], images: str | os.PathLike[str] | None = None,
             image_ext: str = "jpg", channels: int = 3, workers: int = 2,
             decode: bool = True, name: str | None = None) -> VerificationSet:
    """The verification set in ``path`` (format from ``set_format``), its images decoded
    into memory as (N, ``channels``, H, W) uint8 unless ``decode=False``.

    ``images``: the image folder of a ``pairs.txt`` or the root of a pair list's paths
    (default: the file's folder); ``image_ext``: the extension of a ``pairs.txt``'s images;
    ``workers``: decoding threads / processes; ``name``: the set's name in reports (default:
    the file's stem). Raises ``HyperError`` as the readers do."""
    kind = set_format(path)
    if kind == "bin":
        vset = read_bin(path, channels, workers)
    elif kind == "pairs.txt":
        vset = read_pairs_txt(path, images, image_ext)
    else:
        vset = read_pair_list(path, images)
    if name is not None:
        vset = replace(vset, name=name)
    return vset.decode(channels, workers) if decode else vset
