"""Pairs named by image file: LFW's ``pairs.txt`` and ``label path0 path1`` pair lists.

- **LFW pairs.txt** (Huang et al. 2007, the LFW "View 2" file; faces.md §2): a header
  ``folds<TAB>n`` (``10<TAB>300``), then ``folds`` blocks of n same-person lines
  ``Name<TAB>i<TAB>j`` and n different-person lines ``Name1<TAB>i<TAB>Name2<TAB>j``; the images
  are ``Name/Name_%04d.jpg`` under the image folder (aligned copies use ``.jpg`` or
  ``.png``: ``ext``). Fold k is the k-th block of 2n pairs. Every pair must be present: a
  skipped pair would shift the folds.
- **Pair list** (opensphere's ``*_ann.txt``): one ``label path0 path1`` line per pair, label
  1 for the same identity and 0 for different ones, paths relative to the list's folder (or
  a given root); scored in contiguous folds (10 by default, as insightface).

Both check that every image exists before anything is decoded::

    vset = read_pairs_txt("lfw/pairs.txt", images="lfw/lfw-112x96", ext="jpg")
    vset = read_pair_list("val/lfw_ann.txt", root="val")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hypercli.errors import HyperError
from hypercli.verification.dataset import VerificationSet


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, whitespace-split fields) of each non-blank line of a text file."""
    if not path.is_file():
        raise HyperError(f"{path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise HyperError(f"{path} is not a text file (a pairs.txt or a pair list)") from None
    return [(i, line.split()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]


def _index(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], np.ndarray]:
    """The distinct paths (first-seen order) and each pair's two indices into them, (P, 2)."""
    where: dict[str, int] = {}
    index = np.empty((len(pairs), 2), dtype=np.int64)
    for k, pair in enumerate(pairs):
        for side, p in enumerate(pair):
            index[k, side] = where.setdefault(p, len(where))
    return list(where), index


def check_images(paths: Sequence[str], root: Path, source: Path, hint: str = "") -> None:
    """Raise ``HyperError`` naming the first of ``paths`` missing under ``root`` and how many
    are missing: every listed image must be there (a skipped pair shifts the folds)."""
    missing = [p for p in paths if not (root / p).is_file()]
    if missing:
        raise HyperError(f"{source}: {len(missing)} of {len(paths)} images are missing under "
                         f"{root}, the first {root / missing[0]}; every pair must be present "
                         f"(a skipped pair shifts the folds){hint}")


def _int(field: str, path: Path, line: int, what: str) -> int:
    try:
        return int(field)
    except ValueError:
        raise HyperError(f"{path}:{line}: {what} {field!r} is not an integer") from None


def read_pairs_txt(path: str | os.PathLike[str], images: str | os.PathLike[str] | None = None,
                   ext: str = "jpg") -> VerificationSet:
    """LFW's ``pairs.txt`` as a ``VerificationSet`` of image files (not decoded yet).

    ``images``: the folder holding ``Name/Name_%04d.<ext>`` (default: the file's folder);
    ``ext``: the images' extension (``jpg``, ``png``). The header gives the folds (1 field:
    one fold). The set is named after the file's stem, ``lfw`` for ``pairs.txt`` itself.
    Raises ``HyperError`` for a bad header or line (line number named), a pair count that
    does not match the header, or a missing image (the first named, and the count)."""
    p = Path(path)
    root = Path(images) if images is not None else p.parent
    ext = ext.lstrip(".")
    lines = _lines(p)
    if not lines or not 1 <= len(lines[0][1]) <= 2:
        raise HyperError(f"{p}: the first line must be the header 'folds<TAB>pairs per half' "
                         "(LFW: '10\\t300')")
    head = [_int(f, p, lines[0][0], "header field") for f in lines[0][1]]
    folds, n = (head[0], head[1]) if len(head) == 2 else (1, head[0])
    if folds < 1 or n < 1:
        raise HyperError(f"{p}: header {folds} folds of {n} pairs per half: both must be >= 1")
    names: list[tuple[str, str]] = []
    same: list[bool] = []
    for line, f in lines[1:]:
        if len(f) == 3:
            a = b = f[0]
            i, j = _int(f[1], p, line, "image number"), _int(f[2], p, line, "image number")
        elif len(f) == 4:
            a, b = f[0], f[2]
            i, j = _int(f[1], p, line, "image number"), _int(f[3], p, line, "image number")
        else:
            raise HyperError(f"{p}:{line}: {len(f)} fields; a pair is 'Name i j' (same person) "
                             "or 'Name1 i Name2 j' (different people)")
        names.append((f"{a}/{a}_{i:04d}.{ext}", f"{b}/{b}_{j:04d}.{ext}"))
        same.append(len(f) == 3)
    expected = folds * 2 * n
    if len(names) != expected:
        raise HyperError(f"{p}: the header announces {folds} folds of 2x{n} pairs ({expected}), "
                         f"the file holds {len(names)}; every pair must be present (a missing "
                         "pair shifts the folds)")
    paths, index = _index(names)
    check_images(paths, root, p, f"; point the image root (--images) at the folder holding "
                                 f"Name/Name_0001.{ext}, or set the extension (--image-ext)")
    return VerificationSet(name="lfw" if p.stem == "pairs" else p.stem, pairs=index,
                           issame=np.array(same), folds=folds, paths=paths, root=root,
                           source=str(p), format="pairs.txt")


def read_pair_list(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                   folds: int = 10) -> VerificationSet:
    """A ``label path0 path1`` pair list (1: same identity, 0: different) as a
    ``VerificationSet`` of image files (not decoded yet), paths relative to ``root`` (default:
    the list's folder), in ``folds`` contiguous folds. Raises ``HyperError`` for a bad line
    (line number named) or a missing image (the first named, and the count)."""
    p = Path(path)
    base = Path(root) if root is not None else p.parent
    names: list[tuple[str, str]] = []
    same: list[bool] = []
    for line, f in _lines(p):
        if len(f) != 3 or f[0] not in ("0", "1"):
            raise HyperError(f"{p}:{line}: a pair list line is 'label path0 path1' with label 1 "
                             "(same identity) or 0 (different)")
        names.append((f[1], f[2]))
        same.append(f[0] == "1")
    if not names:
        raise HyperError(f"{p} holds no pairs")
    paths, index = _index(names)
    check_images(paths, base, p)
    return VerificationSet(name=p.stem, pairs=index, issame=np.array(same), folds=folds,
                           paths=paths, root=base, source=str(p), format="pair-list")
