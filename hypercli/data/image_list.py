"""``image_list``: the images a user names by a folder or by a list file, in a fixed order.

``hyper embed --images SRC`` takes either

- a folder: every image file under it, recursively (symbolic links followed), with the
  extensions of the folder reader (``hypercli.data.readers.folder.IMG_EXTENSIONS``, any
  case), in sorted order of the relative paths (``/``-separated);
- a text file of one path per line, optionally followed by an integer label (the list
  format's ``relative/path label``, as Caffe's ImageData and opensphere write it; the path
  is everything before the last whitespace, so it may hold spaces); blank lines and lines
  starting with ``#`` are skipped. Paths are relative to the list's folder, or to ``root``.

::

    found = image_list("lfw/")              # ImageList(paths, labels=None, root=lfw/)
    found = image_list("probe.txt")         # labels when every line has one
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hypercli.data.readers.folder import IMG_EXTENSIONS
from hypercli.errors import HyperError

_LABEL = re.compile(r"[+-]?\d+")


@dataclass
class ImageList:
    """``paths`` relative to ``root`` (or absolute), in order; ``labels`` (one int per path)
    when the list file gave them, else ``None``."""

    paths: list[str]
    labels: list[int] | None
    root: Path


def folder_images(folder: str | os.PathLike[str]) -> list[str]:
    """The image files under ``folder``, recursively, as sorted ``/``-separated paths
    relative to it (``[]`` when there are none)."""
    base = Path(folder)
    found = []
    for d, _, files in os.walk(base, followlinks=True):
        rel = Path(d).relative_to(base)
        found += [(rel / f).as_posix() for f in files if f.lower().endswith(IMG_EXTENSIONS)]
    return sorted(found)


def read_list(list_file: str | os.PathLike[str]) -> tuple[list[str], list[int] | None]:
    """The paths of a list file and, when every line ends in an integer, their labels.

    Raises ``HyperError`` for an unreadable file, for a list where some lines have a label
    and others do not (the labels could not be matched to the images), or an empty list."""
    p = Path(list_file)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HyperError(f"cannot read the list file {p}: {exc}; give a text file of one "
                         "image path per line") from None
    paths: list[str] = []
    labels: list[int | None] = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.rsplit(None, 1)
        if len(parts) == 2 and _LABEL.fullmatch(parts[1]):
            paths.append(parts[0])
            labels.append(int(parts[1]))
        else:
            paths.append(text)
            labels.append(None)
    if not paths:
        raise HyperError(f"the list file {p} lists no images; give one image path per line")
    have = [lab is not None for lab in labels]
    if any(have) and not all(have):
        n = _line_of(lines, have.index(not have[0]))
        raise HyperError(f"{p} line {n}: {'no' if have[0] else 'a'} label where the first "
                         f"line has {'one' if have[0] else 'none'}; give every line a label "
                         "('path label') or none")
    return paths, ([int(lab) for lab in labels] if all(have) else None)  # type: ignore[arg-type]


def _line_of(lines: list[str], k: int) -> int:
    """The 1-based line number of the ``k``-th listed (non-blank, non-comment) line."""
    seen = -1
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if text and not text.startswith("#"):
            seen += 1
            if seen == k:
                return n
    return len(lines)


def image_list(source: str | os.PathLike[str],
               root: str | os.PathLike[str] | None = None) -> ImageList:
    """The images of a folder or a list file (see the module docstring).

    ``root``: the folder the list's paths are relative to (default: the list's folder); a
    folder source takes none. Raises ``HyperError`` for a source that does not exist, an
    image file given as the source, a folder holding no images, or a bad list file (see
    ``read_list``). Whether each listed file exists is checked when it is read
    (``hypercli.data.images.image_files``)."""
    src = Path(source).expanduser()
    if src.is_dir():
        if root is not None:
            raise HyperError(f"--root applies to a list file; the images of the folder {src} "
                             "are found under it (drop --root)")
        paths = folder_images(src)
        if not paths:
            raise HyperError(f"{src} holds no images ({', '.join(IMG_EXTENSIONS)}, searched "
                             "recursively); point --images at a folder of images or a list "
                             "file")
        return ImageList(paths, None, src)
    if not src.exists():
        raise HyperError(f"--images {str(source)!r} does not exist; give a folder of images or "
                         "a text file of image paths")
    if src.name.lower().endswith(IMG_EXTENSIONS):
        raise HyperError(f"--images {str(source)!r} is one image; give the folder that holds "
                         "the images, or a text file listing them")
    paths, labels = read_list(src)
    base = Path(root).expanduser() if root is not None else src.parent
    if not base.is_dir():
        raise HyperError(f"--root {str(root)!r} is not a folder; give the folder the list's "
                         "paths are relative to")
    return ImageList(paths, labels, base)
