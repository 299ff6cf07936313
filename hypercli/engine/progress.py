"""The training progress bar (rich): epoch, steps, loss, accuracy, images per second and the
share of the step time spent waiting for the data loader (``data``: near 100% means the
loader is the bottleneck; raise ``data.workers``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def training_progress(console: Console, enabled: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.2%}  "
                   "{task.fields[ips]:.0f} img/s  data {task.fields[wait]:.0%}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
