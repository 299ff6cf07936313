"""Atomic file writes: a temp file in the same directory, fsync, then rename over the target.

A reader (or a run killed at any instant, SIGKILL included) sees the old file or the new
one, never half of one. A write that fails (a full disk, a read-only folder, a path under a
file) removes its temp file, leaves the old file as it was, and raises ``HyperError``
naming the path and the cause.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch

from hypercli.errors import HyperError


def os_error_message(path: str | os.PathLike[str], exc: OSError) -> str:
    """``cannot write PATH: CAUSE``, one line, with a hint for the common causes."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    hint = {
        "ENOSPC": "free some space or choose another folder",
        "EDQUOT": "free some space or choose another folder",
        "EROFS": "the file system is read-only; choose another folder",
        "EACCES": "no permission; choose another folder",
        "EPERM": "no permission; choose another folder",
        "ENOTDIR": "a part of the path is a file, not a folder",
        "EISDIR": "it is a folder; give a file name",
        "EEXIST": "a file of that name is in the way of a folder",
    }.get(errno_name(exc), "")
    return f"cannot write {str(path)!r}: {cause}" + (f" ({hint})" if hint else "")


def errno_name(exc: OSError) -> str:
    import errno

    return errno.errorcode.get(exc.errno or 0, "")


@contextmanager
def user_os_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into a one-line ``HyperError``."""
    try:
        yield
    except OSError as exc:
        raise HyperError(os_error_message(path, exc)) from None


def make_dirs(path: str | os.PathLike[str]) -> Path:
    """``mkdir -p path``, a ``HyperError`` naming the path when it cannot be a folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise HyperError(f"cannot write {str(p)!r}: it is a file, not a folder; "
                         "choose another path")
    with user_os_errors(p):
        p.mkdir(parents=True, exist_ok=True)
    return p


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temp file beside it, fsynced and renamed
    over ``path`` when the block ends, removed if the block raises (for outputs written in
    pieces, without holding them in memory as one ``bytes``)."""
    path = Path(path)
    if path.is_dir():
        raise HyperError(f"cannot write {str(path)!r}: it is a folder; give a file name")
    make_dirs(path.parent)
    with user_os_errors(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` through an atomic write (load back with ``weights_only=True``)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def temp_names(path: str | os.PathLike[str]) -> str:
    """The glob pattern of the temp files ``atomic_write_bytes`` makes for ``path``."""
    return f".{Path(path).name}.*.tmp"


def remove_stale_temps(folder: Path, names: list[str]) -> list[Path]:
    """Delete the temp files of interrupted atomic writes of ``names`` in ``folder`` (call
    only while no other process writes there, e.g. under the run lock); returns them."""
    removed = []
    for name in names:
        for tmp in folder.glob(temp_names(name)):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed
