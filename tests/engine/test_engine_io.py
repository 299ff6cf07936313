"""Atomic writes that fail: one-line HyperError naming the path and the cause, no temp file
left, the previous file unchanged."""

from __future__ import annotations

import errno
import os

import pytest

import hypercli.engine.io as io_mod
from hypercli.engine.io import atomic_write_bytes, remove_stale_temps
from hypercli.errors import HyperError


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("where, code, words", [
    ("fsync", errno.ENOSPC, "No space left on device (free some space"),
    ("replace", errno.EROFS, "Read-only file system (the file system is read-only"),
])
def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch, where, code,
                                                       words):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"the good checkpoint")
    monkeypatch.setattr(io_mod.os, where, _raise(code))
    with pytest.raises(HyperError, match="cannot write") as e:
        atomic_write_bytes(target, b"new" * 1000)
    assert str(target) in str(e.value) and words in str(e.value)
    assert target.read_bytes() == b"the good checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_a_read_only_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(io_mod.tempfile, "mkstemp", _raise(errno.EACCES))
    with pytest.raises(HyperError, match="Permission denied .no permission"):
        atomic_write_bytes(tmp_path / "x.json", b"{}")


def test_folders_and_files_in_the_way(tmp_path):
    with pytest.raises(HyperError, match="it is a folder"):
        atomic_write_bytes(tmp_path, b"x")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HyperError, match="is a file, not a folder"):
        atomic_write_bytes(blocker / "x.json", b"{}")
    with pytest.raises(HyperError, match="Not a directory"):
        atomic_write_bytes(blocker / "deeper" / "x.json", b"{}")


def test_remove_stale_temps_only_ours(tmp_path):
    ours = tmp_path / ".checkpoint.pt.abc.tmp"
    theirs = tmp_path / ".other.abc.tmp"
    ours.write_text("x")
    theirs.write_text("y")
    assert remove_stale_temps(tmp_path, ["checkpoint.pt"]) == [ours]
    assert not ours.exists() and theirs.exists()


def test_atomic_writes_get_the_umask_permissions_not_mkstemps_0600(tmp_path):
    import os
    import stat

    from hypercli.engine.io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
