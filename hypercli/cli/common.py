"""What every command shares: the consoles, user-error handling, JSON output, devices."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

console = Console(stderr=True)  # tables, progress and messages; stdout stays clean for --json
if not console.is_terminal:  # a log file: whole lines, not lines folded at 80 columns
    console.soft_wrap = True
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on one line and return the exit (code 2) to raise."""
    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def user_errors(fn: F) -> F:
    """Turn ``HyperError`` (and a missing file) into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hypercli.errors import HyperError

        try:
            return fn(*args, **kwargs)
        except HyperError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """One JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, indent=None, default=float) + "\n")
    sys.stdout.flush()


def resolve_checkpoint(path: Any = None) -> Any:
    """``path`` if given, else the latest run's checkpoint (saying which one was picked)."""
    from pathlib import Path

    from hypercli.engine.checkpoint import checkpoint_file
    from hypercli.engine.runs import latest_run

    if path is not None:
        return checkpoint_file(path)
    picked = latest_run() / "checkpoint.pt"
    console.print(f"[dim]using the latest run's checkpoint: {picked}[/]")
    return Path(picked)
