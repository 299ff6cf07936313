"""What the reproduction scripts share: the run folder, the consoles, and the results."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from hypercli.engine.io import atomic_write_text


def start(out: Path | None, root: str, threads: int) -> tuple[Path, Console, Console]:
    """Set torch's threads and make the run folder (default ``runs/<root>/<timestamp>``);
    returns it with a console for progress and a silent one for the trainer."""
    torch.set_num_threads(threads)
    out = out if out is not None else Path("runs") / root / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    return out, Console(stderr=True), Console(stderr=True, quiet=True)


def markdown_table(head: list[str], body: list[list[str]], notes: str,
                   right_from: int | None = None) -> str:
    """A markdown table: header, one line per row of ``body``, then ``notes`` after a blank
    line. Columns from ``right_from`` on are right-aligned (numbers)."""
    rule = ["---:" if right_from is not None and i >= right_from else "---"
            for i in range(len(head))]
    lines = ["| " + " | ".join(row) + " |" for row in [head, *body]]
    lines.insert(1, "|" + "|".join(rule) + "|")
    return "\n".join(lines) + "\n\n" + notes + "\n"


def finish(out: Path, table: str, rows: list[dict[str, Any]], log: Console, t0: float) -> None:
    """Write ``table.md`` and ``results.json`` atomically, print the table on stdout."""
    atomic_write_text(out / "table.md", table)
    atomic_write_text(out / "results.json", json.dumps(rows, indent=1) + "\n")
    print(table)
    log.print(f"total {time.perf_counter() - t0:.0f} s; table and results in {out}")
