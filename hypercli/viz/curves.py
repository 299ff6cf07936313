"""Training curves from a run directory's ``metrics.jsonl``: every numeric key, grouped.

The engine appends one JSON object per epoch (``train_loss``, ``train_acc``, ``test_acc``,
``lr``, and whatever heads and regularizers log, e.g. the A-Softmax λ or an MHE energy).
Keys are read generically: a key's group is its name without a split prefix (``train_``,
``val_``, ``test_``), so ``train_loss`` and ``test_loss`` share a panel, ``lr`` gets its own;
a component's logs (``mhe/body.0``, ``mhe/head``) share a panel, their total has its own.
Throughput bookkeeping (seconds, images per second) is left out.
Several runs overlay in the same panels.

    records = read_metrics("runs/fmnist-2d-softmax/20260101-120000")
    fig = plot_curves([("softmax", records)])
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hypercli.errors import HyperError
from hypercli.viz.figure import DEFAULT_DPI, new_figure

X_KEYS = ("epoch", "step", "iteration", "iter")
# bookkeeping the engine logs that is no training curve (throughput, wall time)
SKIP_KEYS = ("seconds", "images", "images_per_second", "wall_seconds")
SPLIT_PREFIXES = ("train_", "val_", "test_", "train/", "val/", "test/")
MAX_PANELS = 16


def metrics_path(run: str | os.PathLike[str]) -> Path:
    """``run/metrics.jsonl`` for a run directory, or the file itself, or the checkpoint's run."""
    path = Path(run)
    if path.is_file() and path.suffix == ".jsonl":
        return path
    folder = path if path.is_dir() else path.parent
    candidate = folder / "metrics.jsonl"
    if not candidate.is_file():
        raise HyperError(f"no metrics.jsonl in {str(folder)!r}; give a run directory "
                         f"written by `hyper train` (runs/<recipe>/<time>/)")
    return candidate


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def read_metrics(run: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The numeric fields of every line of a run's metrics.jsonl (nested keys joined by '.')."""
    path = metrics_path(run)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HyperError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if isinstance(obj, dict):
            records.append(_flatten(obj))
    if not any(records):
        raise HyperError(f"{path}: no numeric metrics to draw")
    return records


def group_of(key: str) -> str:
    """The panel a metric goes to: its name without a split prefix; a component's logs
    (``mhe/body.0``, ``mhe/head``, ...) share the component's panel, except a total."""
    if "/" in key and not key.startswith(SPLIT_PREFIXES):
        namespace, leaf = key.split("/", 1)
        return key if leaf in ("total", "loss") else namespace
    for prefix in SPLIT_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix):]
    return key


def group_metrics(records: list[dict[str, float]]) -> tuple[str | None, dict[str, list[str]]]:
    """(the x key or None for the record index, {group: [keys]}) in first-seen order."""
    keys: list[str] = []
    for rec in records:
        keys += [k for k in rec if k not in keys]
    x_key = next((k for k in X_KEYS if any(k in r for r in records)), None)
    groups: dict[str, list[str]] = {}
    for key in keys:
        if key in X_KEYS or key in SKIP_KEYS:
            continue
        groups.setdefault(group_of(key), []).append(key)
    return x_key, groups


def series(records: list[dict[str, float]], key: str,
           x_key: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the records that have ``key`` (and a finite value)."""
    xs, ys = [], []
    for i, rec in enumerate(records):
        if key in rec and math.isfinite(rec[key]):
            xs.append(rec.get(x_key, i + 1) if x_key else i + 1)
            ys.append(rec[key])
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def plot_curves(runs: list[tuple[str, list[dict[str, float]]]],
                size_px: tuple[int, int] | None = None, dpi: int = DEFAULT_DPI) -> Figure:
    """One panel per metric group, one line per key and run; log y when values span 100x."""
    if not runs:
        raise HyperError("no run to draw curves of")
    x_key: str | None = None
    groups: dict[str, list[str]] = {}
    for _, records in runs:
        xk, gr = group_metrics(records)
        x_key = x_key or xk
        for g, ks in gr.items():
            groups.setdefault(g, [])
            groups[g] += [k for k in ks if k not in groups[g]]
    if len(groups) > MAX_PANELS:
        keep = list(groups)[:MAX_PANELS]
        groups = {g: groups[g] for g in keep}
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig = new_figure(size_px or (430 * cols + 40, 300 * rows + 40), dpi)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    styles = ["-", "--", ":", "-."]
    for ax, (group, keys) in zip(axes, groups.items(), strict=False):
        values = []
        for r, (label, records) in enumerate(runs):
            for k, key in enumerate(keys):
                xs, ys = series(records, key, x_key)
                if not len(xs):
                    continue
                values.append(ys)
                name = key if len(runs) == 1 else f"{label}: {key}"
                ax.plot(xs, ys, styles[k % len(styles)], color=f"C{r}" if len(runs) > 1
                        else f"C{k}", marker="o" if len(xs) < 30 else None, ms=3, label=name)
        if values:
            allv = np.concatenate(values)
            if (allv > 0).all() and allv.max() / allv.min() > 100:
                ax.set_yscale("log")
        ax.set_title(group, fontsize=10)
        ax.set_xlabel(x_key or "record", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(groups):]:
        ax.set_axis_off()
    return fig
