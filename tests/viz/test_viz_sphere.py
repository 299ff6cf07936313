"""Thomson points on the circle / sphere (``hyper mhe-solve --plot``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.image import imread

from hypercli.errors import HyperError
from hypercli.viz.figure import save_figure
from hypercli.viz.sphere import plot_points


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_plot_points(tmp_path, dim):
    pts = np.random.default_rng(dim).normal(size=(9, dim))
    fig = plot_points(pts, size_px=(500, 240))
    hist = next(ax for ax in fig.axes if ax.get_xlabel().startswith("angle between two points"))
    smallest = min(
        math.degrees(math.acos(max(-1.0, min(1.0, float(pts[i] @ pts[j]) / (
            math.sqrt(float(pts[i] @ pts[i])) * math.sqrt(float(pts[j] @ pts[j])))))))
        for i in range(9) for j in range(i + 1, 9))
    assert hist.get_legend().get_texts()[0].get_text() == f"smallest {smallest:.2f}°"
    assert hist.patches[0].get_data()[0].sum() == 36  # every pair once
    img = imread(save_figure(fig, tmp_path / "p.png"))
    assert img.shape[:2] == (240, 500) and float(img[..., :3].var()) > 0


def test_regular_polygon_on_the_circle():
    t = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    fig = plot_points(np.stack([np.cos(t), np.sin(t)], 1))
    hist = fig.axes[-1]
    assert hist.get_legend().get_texts()[0].get_text() == "smallest 60.00°"


def test_needs_two_points():
    with pytest.raises(HyperError, match="at least 2 points"):
        plot_points(np.ones((1, 3)))


def test_plot_points_coloured_by_coordination():
    pts = np.random.default_rng(0).normal(size=(12, 3))
    coord = np.array([5] * 4 + [6] * 6 + [7] * 2)
    fig = plot_points(pts, coordination=coord)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["5 neighbours: 4", "6 neighbours: 6", "7 neighbours: 2"]
    assert [h.get_color() for h in fig.legends[0].legend_handles] == ["C3", "0.55", "C0"]
    with pytest.raises(HyperError, match="coordination has 3 entries for 12 points"):
        plot_points(pts, coordination=[5, 6, 7])
