"""Stop requests (Ctrl-C, SIGTERM) that take effect between two training steps.

A signal only sets a flag; the training loop looks at it after each completed step, writes
its checkpoint there and returns, so a resumed run repeats no half-done step (no BatchNorm
statistics updated twice) and ends bit-identical to an uninterrupted one. Batch schedulers
(SLURM preemption, Kubernetes) send SIGTERM and kill a little later; it is handled alike.
Further signals while stopping are noted, never raised, so no traceback interrupts the
checkpoint. A stopped ``hyper train`` exits with 128 + the signal number: 130 after Ctrl-C
(SIGINT), 143 after SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager: while inside, SIGINT and SIGTERM set ``signum`` instead of stopping.

    Outside the main thread (where Python cannot install handlers) it does nothing, and
    Ctrl-C raises ``KeyboardInterrupt`` as usual.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        """128 + the signal number (the shell's convention): 130 for SIGINT, 143 for SIGTERM."""
        return 128 + (self.signum or signal.SIGINT)
