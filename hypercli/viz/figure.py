"""Figures without a display: creation at a size in pixels, class colours, atomic saving.

Figures are built with ``matplotlib.figure.Figure`` directly and rendered by the Agg canvas
that ``savefig`` picks for PNG (SVG, PDF likewise): no pyplot, no GUI backend, no global
state, so they render headless on any machine, never leak between calls, and importing
this package leaves a notebook's backend alone.
``save_figure`` writes PNG by default and SVG or PDF when the file name says so.

    fig = new_figure((1600, 800))
    save_figure(fig, "features.png")
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from hypercli.errors import HyperError

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DEFAULT_DPI = 100


def new_figure(size_px: tuple[int, int], dpi: int = DEFAULT_DPI) -> Figure:
    """A blank figure of ``size_px = (width, height)`` pixels at ``dpi`` (constrained layout)."""
    width, height = size_px
    if width < 50 or height < 50:
        raise HyperError(f"figure size {width}x{height} px is too small; use at least 50x50")
    return Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")


def parse_size(text: str) -> tuple[int, int]:
    """``"1600x900"`` -> ``(1600, 900)`` pixels."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise HyperError(
            f"--size {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 1600x900"
        ) from None
    if width < 50 or height < 50 or width > 20000 or height > 20000:
        raise HyperError(f"--size {text!r}: each side must lie between 50 and 20000 pixels")
    return width, height


def class_colors(num_classes: int) -> np.ndarray:
    """One RGBA colour per class, (C, 4): tab10 up to 10 classes, then a sampled hsv wheel."""
    if num_classes <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return np.array([to_rgba(cmap(i)) for i in range(num_classes)])
    cmap = matplotlib.colormaps["hsv"]
    return np.array([to_rgba(cmap(i / num_classes)) for i in range(num_classes)])


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """The output path, checked before any work: a known extension and a writable folder.

    Raises ``HyperError`` for an unsupported extension or a folder that cannot be created
    or written. A missing folder is created.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise HyperError(f"cannot write {str(path)!r}: unsupported extension "
                         f"{suffix or '(none)'!r}; use one of {known}")
    if path.is_dir():
        raise HyperError(f"cannot write {str(path)!r}: it is a directory; give a file name")
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise HyperError(f"cannot write {str(path)!r}: {str(ancestor)!r} is a file, "
                                 f"not a folder")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HyperError(f"cannot write {str(path)!r}: folder {str(parent)!r} cannot be "
                         f"created ({exc.strerror or exc})") from None
    if not os.access(parent, os.W_OK):
        raise HyperError(f"cannot write {str(path)!r}: folder {str(parent)!r} is not writable")
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` atomically (temporary file, then rename); returns the path.

    The format follows the extension: ``.png`` (default when the CLI picks the name),
    ``.svg`` or ``.pdf``. The figure keeps its size in pixels (no tight bounding box).
    """
    path = check_output_path(path)
    fmt = FORMATS[path.suffix.lower()]
    try:  # /proc, a vanished folder: the temp file itself cannot be made
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise HyperError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=fig.dpi)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HyperError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
