"""Training curves read generically from metrics.jsonl: every numeric key, grouped by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread

from hypercli.errors import HyperError
from hypercli.viz.curves import group_metrics, plot_curves, read_metrics
from hypercli.viz.figure import save_figure


def write_run(folder, epochs: int = 6):
    folder.mkdir(parents=True)
    lines = []
    for e in range(1, epochs + 1):
        rec = {"epoch": e, "step": 10 * e, "train_loss": 2.0 / e, "train_accuracy": 1 - 0.5 / e,
               "lr": 0.1 * 0.1 ** e, "seconds": 3.0, "images": 100.0,
               "images_per_second": 33.3, "head/lambda": 1000.0 / (1 + 30 * e),
               "mhe/body.0": 1.0 - 0.01 * e, "mhe/head": 0.9 - 0.01 * e, "mhe/total": 10.0 / e,
               "note": "text is ignored", "flag": True}
        if e % 2 == 0:  # evaluated every other epoch
            rec.update({"test_accuracy": 0.9 - 0.3 / e, "test_loss": 2.2 / e})
        lines.append(json.dumps(rec))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_read_and_group(tmp_path):
    run = write_run(tmp_path / "run")
    records = read_metrics(run)
    assert len(records) == 6 and "note" not in records[0] and "flag" not in records[0]
    x_key, groups = group_metrics(records)
    assert x_key == "epoch"
    assert groups == {"loss": ["train_loss", "test_loss"],
                      "accuracy": ["train_accuracy", "test_accuracy"],
                      "lr": ["lr"], "head": ["head/lambda"], "mhe": ["mhe/body.0", "mhe/head"],
                      "mhe/total": ["mhe/total"]}


def test_plot_curves_draws_the_logged_values(tmp_path):
    records = read_metrics(write_run(tmp_path / "run"))
    fig = plot_curves([("run", records)], size_px=(700, 400))
    loss = next(ax for ax in fig.axes if ax.get_title() == "loss")
    lines = {ln.get_label(): ln.get_xydata() for ln in loss.get_lines()}
    np.testing.assert_allclose(lines["train_loss"], [[e, 2.0 / e] for e in range(1, 7)])
    np.testing.assert_allclose(lines["test_loss"], [[e, 2.2 / e] for e in (2, 4, 6)])
    lr = next(ax for ax in fig.axes if ax.get_title() == "lr")
    assert lr.get_yscale() == "log"  # spans 1e5
    lam = next(ax for ax in fig.axes if ax.get_title() == "head")
    assert lam.get_yscale() == "linear"  # spans under 100x
    np.testing.assert_allclose(lam.get_lines()[0].get_ydata(),
                               [1000.0 / (1 + 30 * e) for e in range(1, 7)])
    img = imread(save_figure(fig, tmp_path / "c.png"))
    assert img.shape[:2] == (400, 700) and float(img[..., :3].var()) > 0


def test_overlaid_runs(tmp_path):
    a = read_metrics(write_run(tmp_path / "a"))
    b = read_metrics(write_run(tmp_path / "b", epochs=3))
    fig = plot_curves([("a", a), ("b", b)], size_px=(600, 400))
    acc = next(ax for ax in fig.axes if ax.get_title() == "accuracy")
    assert {ln.get_label() for ln in acc.get_lines()} == {
        "a: train_accuracy", "a: test_accuracy", "b: train_accuracy", "b: test_accuracy"}


def test_errors(tmp_path):
    with pytest.raises(HyperError, match="no metrics.jsonl"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 1.0}\n{oops\n')
    with pytest.raises(HyperError, match=r"metrics.jsonl:2: not valid JSON"):
        read_metrics(tmp_path)
