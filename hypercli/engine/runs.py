"""Run directories: ``runs/<recipe>/<timestamp>/`` and the pointer to the latest run."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hypercli.engine.io import atomic_write_text
from hypercli.errors import HyperError


def runs_root() -> Path:
    """``$HYPER_RUNS`` or ./runs."""
    return Path(os.environ.get("HYPER_RUNS", "runs"))


def new_run_dir(recipe_name: str) -> Path:
    """A fresh ``runs/<recipe>/<timestamp>[-i]`` path (not created)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = runs_root() / recipe_name / stamp
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{stamp}-{i}"), i + 1
    return path


def mark_latest(run_dir: Path) -> None:
    atomic_write_text(runs_root() / "LATEST", str(run_dir.resolve()) + "\n")


def latest_run() -> Path:
    """The directory of the most recent ``hyper train`` run (from ``runs/LATEST``)."""
    pointer = runs_root() / "LATEST"
    if not pointer.is_file():
        raise HyperError(f"no run found ({pointer} is missing): train one with "
                         "`hyper train --recipe fmnist-quick` or pass --checkpoint")
    try:
        text = pointer.read_bytes().decode("utf-8").strip()
    except (UnicodeDecodeError, OSError):
        text = ""
    if not text or "\0" in text or "\n" in text:
        raise HyperError(f"{pointer} does not hold a run folder path (damaged?); pass "
                         "--checkpoint, or train again to rewrite it")
    run = Path(text)
    if not (run / "checkpoint.pt").is_file():
        raise HyperError(f"the latest run {run} has no checkpoint.pt; pass --checkpoint")
    return run
