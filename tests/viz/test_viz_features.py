"""Feature figures: real images of the requested size, and the drawn angles are the true ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.image import imread
from matplotlib.patches import StepPatch

from hypercli.errors import HyperError
from hypercli.viz.features import ANGLE_BINS, FeatureSet, plot_compare, plot_features
from hypercli.viz.figure import save_figure


def synthetic(dim: int, n: int = 60, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    centres = rng.normal(size=(classes, dim))
    f = (centres[y] + 0.3 * rng.normal(size=(n, dim))) * rng.uniform(0.5, 5.0, size=(n, 1))
    return f, y


def loop_angles(f, y):
    intra, inter = [], []
    for i in range(len(f)):
        for j in range(i + 1, len(f)):
            a, b = f[i], f[j]
            cos = sum(float(p) * float(q) for p, q in zip(a, b)) / (
                math.sqrt(sum(float(p) ** 2 for p in a)) * math.sqrt(sum(float(q) ** 2 for q in b)))
            (intra if y[i] == y[j] else inter).append(math.degrees(math.acos(max(-1, min(1, cos)))))
    return intra, inter


def assert_real_image(path, width, height):
    img = imread(path)
    assert img.shape[:2] == (height, width)
    assert float(img[..., :3].var()) > 0.0


def hist_axes(fig):
    return [ax for ax in fig.axes if ax.get_xlabel().startswith("angle between two features")]


@pytest.mark.parametrize("dim", [2, 3, 7])
def test_plot_features_each_dimension(tmp_path, dim):
    f, y = synthetic(dim)
    fig = plot_features(FeatureSet(f, y, title=f"{dim}-D"), size_px=(640, 300))
    out = save_figure(fig, tmp_path / "f.png")
    assert_real_image(out, 640, 300)
    (ax,) = hist_axes(fig)
    intra, inter = loop_angles(f, y)
    steps = [p for p in ax.patches if isinstance(p, StepPatch)]
    assert len(steps) == 2
    for step, ref in zip(steps, (intra, inter)):
        values, edges, _ = step.get_data()
        counts = [sum(lo <= a < hi or (hi == 180.0 and a == 180.0) for a in ref)
                  for lo, hi in zip(ANGLE_BINS[:-1], ANGLE_BINS[1:])]
        np.testing.assert_allclose(edges, ANGLE_BINS)
        np.testing.assert_allclose(values, np.array(counts) / (len(ref) * 2.0), atol=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"intra-class, mean {np.mean(intra):.1f}°",
                      f"inter-class, mean {np.mean(inter):.1f}°"]


def test_circle_panel_draws_the_normalized_features():
    f, y = synthetic(2)
    fig = plot_features(FeatureSet(f, y), size_px=(600, 250))
    circle = next(ax for ax in fig.axes if ax.get_title().startswith("normalized"))
    pts = circle.collections[0].get_offsets()
    for (px, py), (x, yy) in zip(np.asarray(pts), f):
        assert math.hypot(px, py) == pytest.approx(1.0, abs=1e-12)
        assert math.atan2(py, px) == pytest.approx(math.atan2(yy, x), abs=1e-12)
    plane = next(ax for ax in fig.axes if ax.get_title().startswith("raw"))
    np.testing.assert_allclose(np.asarray(plane.collections[0].get_offsets()), f)


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_plot_compare_one_column_per_model(tmp_path, dim):
    sets = [FeatureSet(*synthetic(dim, seed=s), title=f"m={s + 1}") for s in range(3)]
    fig = plot_compare(sets, size_px=(900, 500))
    rows = 3 if dim == 2 else 2
    assert len([ax for ax in fig.axes if ax.get_legend() is not None or ax.has_data()]) \
        == rows * 3
    for s, ax in enumerate(hist_axes(fig)):
        intra, _ = loop_angles(*synthetic(dim, seed=s))
        assert ax.get_legend().get_texts()[0].get_text() == \
            f"intra-class, mean {np.mean(intra):.1f}°"
    assert [t for t in (ax.get_title() for ax in fig.axes) if t.startswith("m=")] and \
        sum(ax.get_title().startswith(f"m={s + 1}") for s in range(3) for ax in fig.axes) == 3
    if dim == 2:  # rendering is the slow part; once is enough
        assert_real_image(save_figure(fig, tmp_path / "c.png"), 900, 500)


def test_compare_needs_one_dimension():
    with pytest.raises(HyperError, match="one feature dimension"):
        plot_compare([FeatureSet(*synthetic(2)), FeatureSet(*synthetic(3))])


def test_featureset_checks_shapes():
    with pytest.raises(HyperError, match="labels"):
        FeatureSet(np.ones((4, 2)), [0, 1, 0])
