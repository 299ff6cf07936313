"""Filter angles and hyperspherical energy per layer, against float64 loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch import nn

from hypercli.errors import HyperError
from hypercli.viz.figure import save_figure
from hypercli.viz.layers import layer_stats, plot_layers, select_layers, uniform_angle_density


def loop_energy(w: torch.Tensor, half_space: bool = False) -> float:
    """Mean over pairs of (2 - 2<ŵ_i, ŵ_j>)^(-1/2), ŵ = w / sqrt(Σw² + 1e-4) (authors' code)."""
    rows = [[float(v) for v in r] for r in w.reshape(w.shape[0], -1)]
    unit = [[v / math.sqrt(sum(x * x for x in r) + 1e-4) for v in r] for r in rows]
    if half_space:
        unit = unit + [[-v for v in r] for r in unit]
    total, pairs = 0.0, 0
    for i in range(len(unit)):
        for j in range(i + 1, len(unit)):
            g = sum(a * b for a, b in zip(unit[i], unit[j]))
            total += (2.0 - 2.0 * g) ** -0.5
            pairs += 1
    return total / pairs


def loop_angles(w: torch.Tensor) -> list[float]:
    rows = [[float(v) for v in r] for r in w.reshape(w.shape[0], -1)]
    out = []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            dot = sum(a * b for a, b in zip(rows[i], rows[j]))
            na = math.sqrt(sum(a * a for a in rows[i]))
            nb = math.sqrt(sum(b * b for b in rows[j]))
            out.append(math.degrees(math.acos(max(-1.0, min(1.0, dot / (na * nb))))))
    return out


class Small(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 5, 3)
        self.fc = nn.Linear(20, 4)


def test_layer_stats_match_loops():
    w = torch.randn(6, 2, 3, 3, generator=torch.Generator().manual_seed(1))
    st = layer_stats("conv", w)
    assert (st.num_filters, st.dim) == (6, 18)
    np.testing.assert_allclose(st.angles, loop_angles(w), atol=1e-9)
    assert st.energy == pytest.approx(loop_energy(w), rel=1e-10)
    assert st.energy_half == pytest.approx(loop_energy(w, half_space=True), rel=1e-10)
    assert st.min_angle == pytest.approx(min(loop_angles(w)), abs=1e-9)


def test_select_layers_by_name_glob_and_position():
    model = Small(0)
    assert list(select_layers(model, "all")) == ["conv1", "conv2", "fc"]  # BatchNorm skipped
    assert list(select_layers(model, "conv*")) == ["conv1", "conv2"]
    assert list(select_layers(model, "0,-1")) == ["conv1", "fc"]
    assert list(select_layers(model, "fc, conv1")) == ["fc", "conv1"]
    np.testing.assert_array_equal(select_layers(model, "fc")["fc"], model.fc.weight.detach())
    with pytest.raises(HyperError, match="matches no layer; layers: conv1, conv2, fc"):
        select_layers(model, "nope")
    with pytest.raises(HyperError, match="no layer at that position"):
        select_layers(model, "7")


def test_uniform_angle_density_closed_forms():
    deg = np.linspace(0.05, 179.95, 1800)
    # dim 3: p(θ) = sin θ / 2 per radian
    np.testing.assert_allclose(uniform_angle_density(3, deg),
                               np.sin(np.radians(deg)) / 2 * math.pi / 180, rtol=1e-12)
    for dim in (2, 9, 144):
        assert float(uniform_angle_density(dim, deg).sum() * 0.1) == pytest.approx(1.0, abs=1e-3)


def test_plot_layers_overlays_models(tmp_path):
    a, b = Small(0), Small(1)
    fig, stats = plot_layers([("a", select_layers(a)), ("b", select_layers(b))],
                             size_px=(700, 260))
    assert [[s.name for s in st] for st in stats] == [["conv1", "conv2", "fc"]] * 2
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]
    panel = next(ax for ax in fig.axes if ax.get_title().startswith("conv2"))
    texts = [t.get_text() for t in panel.get_legend().get_texts()]
    w = b.conv2.weight.detach()
    assert texts[1].startswith(f"E={loop_energy(w):.4g}, half {loop_energy(w, True):.4g}, "
                               f"min {min(loop_angles(w)):.1f}°")
    img = imread(save_figure(fig, tmp_path / "layers.png"))
    assert img.shape[:2] == (260, 700) and float(img[..., :3].var()) > 0


def test_plot_layers_needs_shared_layers():
    class Other(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 4)

    with pytest.raises(HyperError, match="has no layer"):
        plot_layers([("a", select_layers(Small(0))), ("b", select_layers(Other()))])
