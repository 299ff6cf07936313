"""Angle statistics against float64 per-pair loops (math.acos of normalized dot products)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hypercli.errors import HyperError
from hypercli.viz.angles import (
    azimuthal_equidistant,
    class_angles,
    class_centres,
    filter_angles,
    subsample,
)


def loop_angle(a, b) -> float:
    dot = sum(float(x) * float(y) for x, y in zip(a, b))
    na = math.sqrt(sum(float(x) ** 2 for x in a))
    nb = math.sqrt(sum(float(y) ** 2 for y in b))
    return math.degrees(math.acos(max(-1.0, min(1.0, dot / (na * nb)))))


def loop_class_angles(f, y):
    intra, inter = [], []
    for i in range(len(f)):
        for j in range(i + 1, len(f)):
            (intra if y[i] == y[j] else inter).append(loop_angle(f[i], f[j]))
    return intra, inter


@pytest.fixture
def sample():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(37, 5)) * rng.uniform(0.1, 9.0, size=(37, 1))
    y = rng.integers(0, 4, size=37)
    return f, y


def test_class_angles_match_pair_loops(sample):
    f, y = sample
    stats = class_angles(f, y, max_points=None)
    intra, inter = loop_class_angles(f, y)
    np.testing.assert_allclose(stats.intra, intra, atol=1e-9)  # same i<j order
    np.testing.assert_allclose(stats.inter, inter, atol=1e-9)
    assert stats.mean_intra == pytest.approx(sum(intra) / len(intra), abs=1e-9)
    assert stats.mean_inter == pytest.approx(sum(inter) / len(inter), abs=1e-9)
    assert stats.n_points == 37


def test_class_angles_subsample_uses_the_sampled_points(sample):
    f, y = sample
    stats = class_angles(f, y, max_points=20, seed=5)
    idx = subsample(37, 20, seed=5)
    assert len(idx) == 20 and len(set(idx.tolist())) == 20
    intra, inter = loop_class_angles(f[idx], y[idx])
    np.testing.assert_allclose(np.sort(stats.intra), np.sort(intra), atol=1e-9)
    np.testing.assert_allclose(np.sort(stats.inter), np.sort(inter), atol=1e-9)


def test_class_centres_and_their_angles(sample):
    f, y = sample
    y = np.where(y == 2, 1, y)  # class 2 absent
    stats = class_angles(f, y, max_points=None)
    centres = class_centres(f, y)
    for c in (0, 1, 3):
        rows = [r / np.linalg.norm(r) for r, lab in zip(f, y) if lab == c]
        mean = [sum(col) / len(rows) for col in zip(*rows)]
        norm = math.sqrt(sum(v * v for v in mean))
        np.testing.assert_allclose(centres[c], [v / norm for v in mean], atol=1e-12)
    assert np.isnan(centres[2]).all() and np.isnan(stats.centre_angles[2]).all()
    assert stats.centre_angles[0, 3] == pytest.approx(loop_angle(centres[0], centres[3]))
    expected_min = min(loop_angle(centres[a], centres[b]) for a, b in ((0, 1), (0, 3), (1, 3)))
    assert stats.min_centre_angle == pytest.approx(expected_min, abs=1e-9)


def test_filter_angles_match_loops_on_a_conv_weight():
    w = torch.randn(7, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    flat = w.reshape(7, -1).double().tolist()
    expected = [loop_angle(flat[i], flat[j]) for i in range(7) for j in range(i + 1, 7)]
    np.testing.assert_allclose(filter_angles(w), expected, atol=1e-9)


def test_closed_forms():
    # orthogonal filters are 90 degrees apart, opposite ones 180
    w = np.array([[1.0, 0, 0], [0, 2.0, 0], [-3.0, 0, 0]])
    np.testing.assert_allclose(filter_angles(w), [90.0, 180.0, 90.0], atol=1e-12)


@pytest.mark.parametrize("dim", [3, 6])
def test_azimuthal_equidistant_keeps_the_angle_to_the_centre(dim):
    rng = np.random.default_rng(dim)
    f = rng.normal(size=(50, dim)) + 2.0
    proj = azimuthal_equidistant(f)
    c = proj.centre
    expected = [loop_angle(x, c) for x in f]
    np.testing.assert_allclose(proj.radius, expected, atol=1e-9)
    np.testing.assert_allclose(np.hypot(proj.xy[:, 0], proj.xy[:, 1]), expected, atol=1e-9)
    mean = (f / np.linalg.norm(f, axis=1, keepdims=True)).mean(0)
    np.testing.assert_allclose(c, mean / np.linalg.norm(mean), atol=1e-12)
    if dim == 3:  # the true map projection: azimuth differences are tangent-plane angles
        assert proj.azimuth_share == pytest.approx(1.0)
        u = f / np.linalg.norm(f, axis=1, keepdims=True)
        t = u - np.outer(u @ c, c)
        for i, j in ((0, 1), (2, 7), (10, 33)):
            phi = math.degrees(abs(math.atan2(proj.xy[i, 1], proj.xy[i, 0])
                                   - math.atan2(proj.xy[j, 1], proj.xy[j, 0])))
            phi = min(phi, 360.0 - phi)
            assert phi == pytest.approx(loop_angle(t[i], t[j]), abs=1e-7)
    else:
        assert 0.0 < proj.azimuth_share < 1.0


def test_bad_input_is_a_user_error():
    with pytest.raises(HyperError, match="NaN"):
        class_angles(np.array([[1.0, np.nan], [0.0, 1.0]]), [0, 1])
    with pytest.raises(HyperError, match="labels"):
        class_angles(np.ones((3, 2)), [0, 1])
