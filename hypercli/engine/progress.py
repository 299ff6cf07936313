"""Training progress: a live rich bar on a terminal, complete log lines everywhere else.

Both show the epoch, steps, loss, accuracy, images per second and the share of the step
time spent waiting for the data loader (``data``: near 100% means the loader is the
bottleneck; raise ``data.workers``). When the output is not a terminal (redirected to a
file, CI, a batch scheduler), a live bar would be cut to the console's default width and
redrawn into the file, so ``LineProgress`` prints one whole line every ``interval`` seconds
and at the end of every epoch instead. rich has no such line mode for ``Progress``, hence
the small class here.
"""

from __future__ import annotations

import re
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# the fields every view shows; data: the share of the step time spent waiting for the loader
STATS = "loss {loss:.4f}  acc {acc:.2%}  {ips:.0f} img/s  data {wait:.0%}"


def training_progress(console: Console, enabled: bool = True, interval: float = 30.0,
                      stats: str = STATS) -> Progress | LineProgress:
    """The live bar when ``console`` is a terminal, else ``LineProgress``; ``stats``: the
    fields shown, a ``str.format`` template over the tasks' fields (default ``STATS``)."""
    if enabled and not console.is_terminal:
        return LineProgress(console, interval, stats)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(re.sub(r"\{(\w+)", r"{task.fields[\1]", stats)),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


class LineProgress:
    """The ``rich.progress.Progress`` calls the trainer makes, printed as whole lines.

    A task's line is printed when its description changes (the trainer writes the epoch's
    test accuracy there when the epoch ends) and otherwise every ``interval`` seconds.
    """

    def __init__(self, console: Console, interval: float = 30.0, stats: str = STATS) -> None:
        self.console, self.interval, self.stats = console, interval, stats
        self.tasks: dict[int, dict[str, Any]] = {}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def add_task(self, description: str, total: int, completed: int = 0,
                 **fields: Any) -> int:
        task = len(self.tasks)
        self.tasks[task] = {"description": description, "total": total,
                            "completed": completed, "fields": fields,
                            "start": time.perf_counter(), "printed": time.perf_counter()}
        return task

    def update(self, task: int, *, completed: int | None = None,
               description: str | None = None, **fields: Any) -> None:
        t = self.tasks[task]
        t["fields"].update(fields)
        now = time.perf_counter()
        show = False
        if completed is not None:
            t["completed"] = completed
        if description is not None:
            t["description"] = description
            show = True
        if show or now - t["printed"] >= self.interval:
            t["printed"] = now
            self.console.print(self.line(task), soft_wrap=True, highlight=False, markup=False)

    def line(self, task: int) -> str:
        t = self.tasks[task]
        el = int(time.perf_counter() - t["start"])
        clock = f"{el // 3600}:{el // 60 % 60:02d}:{el % 60:02d}"
        stats = self.stats.format(**t["fields"]) if t["fields"] else ""
        return f"{t['description']}  {t['completed']}/{t['total']}  {stats}  {clock}"
