"""One process per run folder: an exclusive ``flock`` on ``<run>/.lock``.

The kernel drops the lock when its process ends, however it ends (SIGKILL included), so a
dead run never blocks the next one; a second live ``hyper train`` on the same ``--out``
(or a concurrent ``--resume``) gets a one-line error naming the holder's process id.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypercli.engine.io import user_os_errors
from hypercli.errors import HyperError

LOCKNAME = ".lock"


class RunLock:
    """Context manager holding the exclusive lock of ``run_dir`` (created if missing)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCKNAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: run unlocked
            return self
        with user_os_errors(self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise HyperError(f"{self.path.parent} is in use by another hyper process "
                             f"(pid {holder}); wait for it to finish or choose another --out"
                             ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
