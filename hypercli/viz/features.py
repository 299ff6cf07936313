"""Deep features on the sphere, coloured by class: the plane, the circle, the sphere, angles.

The picture behind SphereFace (Liu et al. 2017, Fig. 2 and the seed talk's slides 4 and
11): with a 2-D feature layer, softmax features spread radially and the class is carried
by the angle; A-Softmax with margin m squeezes each class into a narrower wedge.

- D = 2: the raw features in the plane, the same normalized onto the unit circle (with
  each class's angular density as a ring), and the intra/inter-class angle histograms;
- D = 3: the normalized features on the unit sphere from several views, and histograms;
- D > 3: an azimuthal equidistant map about the mean direction (distance from the middle
  is the exact angle to it; the azimuth is a projection) and the histograms, which carry
  the exact quantity margins enlarge.

    fs = FeatureSet(features, labels, class_names, title="softmax")
    fig = plot_features(fs)                  # one model
    fig = plot_compare([fs1, fs2, fs3, fs4])  # one column per model, e.g. m = 1..4
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hypercli.errors import HyperError
from hypercli.viz.angles import (
    ClassAngles,
    as_matrix,
    azimuthal_equidistant,
    class_angles,
    normalize_rows,
)
from hypercli.viz.figure import DEFAULT_DPI, class_colors, new_figure

ANGLE_BINS = np.linspace(0.0, 180.0, 91)  # 2-degree bins for every angle histogram
SPHERE_VIEWS = ((20.0, -60.0), (20.0, 60.0), (85.0, 0.0))  # (elevation, azimuth) degrees


@dataclass
class FeatureSet:
    """Features of one model: (N, D) features, (N,) labels, optional classifier weights."""

    features: np.ndarray  # (N, D)
    labels: np.ndarray  # (N,) int
    class_names: list[str] = field(default_factory=list)
    title: str = ""
    weights: np.ndarray | None = None  # (C, D) classifier rows, drawn as class directions

    def __post_init__(self) -> None:
        self.features = as_matrix(self.features)
        self.labels = np.asarray(self.labels).astype(np.int64).reshape(-1)
        if len(self.labels) != len(self.features):
            raise HyperError(f"{len(self.features)} features but {len(self.labels)} labels")
        if len(self.features) < 2:
            raise HyperError("need at least 2 samples to draw features")
        if self.weights is not None:
            self.weights = as_matrix(self.weights, "classifier weights")
        num = max(int(self.labels.max()) + 1, len(self.class_names))
        if len(self.class_names) < num:
            self.class_names = [str(c) for c in range(num)]

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# ---------------------------------------------------------------------------- panels


def _scatter(ax: Axes, xy: np.ndarray, fs: FeatureSet, size: float = 3.0,
             alpha: float = 0.5) -> None:
    colors = class_colors(fs.num_classes)[fs.labels]
    ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=size, alpha=alpha, linewidths=0,
               rasterized=True)


def draw_plane(ax: Axes, fs: FeatureSet) -> None:
    """Raw 2-D features; dashed lines are the classifier's class directions."""
    f = fs.features
    _scatter(ax, f, fs)
    reach = float(np.abs(f).max()) * 1.05 or 1.0
    if fs.weights is not None and fs.weights.shape[1] == 2:
        colors = class_colors(fs.num_classes)
        for c, w in enumerate(normalize_rows(fs.weights)):
            ax.plot([0, w[0] * reach], [0, w[1] * reach], "--", color=colors[c], lw=1)
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.6, zorder=0)
    ax.axvline(0, color="0.85", lw=0.6, zorder=0)
    ax.set_title("raw 2-D features", fontsize=10)


def draw_circle(ax: Axes, fs: FeatureSet, bins: int = 120) -> None:
    """2-D features normalized onto the unit circle, ringed by each class's angle density."""
    unit = normalize_rows(fs.features)
    colors = class_colors(fs.num_classes)
    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="0.7", lw=0.8, zorder=0)
    _scatter(ax, unit, fs, size=6.0, alpha=0.25)
    phi = np.arctan2(unit[:, 1], unit[:, 0])
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    mids = (edges[:-1] + edges[1:]) / 2
    dens = np.stack([np.histogram(phi[fs.labels == c], edges)[0] for c in range(fs.num_classes)])
    dens = dens / max(dens.max(), 1)
    inner = 1.08
    closed = np.append(mids, mids[0] + 2 * np.pi)
    for c in range(fs.num_classes):
        if not dens[c].any():
            continue
        r = inner + 0.45 * np.append(dens[c], dens[c][0])
        xs = np.concatenate([r * np.cos(closed), inner * np.cos(closed[::-1])])
        ys = np.concatenate([r * np.sin(closed), inner * np.sin(closed[::-1])])
        ax.fill(xs, ys, color=colors[c], alpha=0.55, lw=0)
    if fs.weights is not None and fs.weights.shape[1] == 2:
        for c, w in enumerate(normalize_rows(fs.weights)):
            ax.plot([0, w[0]], [0, w[1]], "--", color=colors[c], lw=1)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("normalized onto the unit circle\n(ring: angle density per class)", fontsize=10)


def draw_sphere(ax: Any, fs: FeatureSet, elev: float, azim: float) -> None:
    """3-D features normalized onto the unit sphere (``ax`` is a 3-D axes)."""
    unit = normalize_rows(fs.features)
    u, v = np.mgrid[0 : 2 * np.pi : 25j, 0 : np.pi : 13j]
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v),
                      color="0.88", lw=0.4)
    colors = class_colors(fs.num_classes)[fs.labels]
    ax.scatter(unit[:, 0], unit[:, 1], unit[:, 2], c=colors, s=5, alpha=0.8, linewidths=0,
               depthshade=True, rasterized=True)
    ax.view_init(elev=elev, azim=azim)
    ax.set_box_aspect((1, 1, 1), zoom=1.35)
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-1, 1)
    ax.set_axis_off()
    ax.set_title(f"unit sphere (elev {elev:.0f}°, azim {azim:.0f}°)", fontsize=10)


def draw_projection(ax: Axes, fs: FeatureSet) -> None:
    """Azimuthal equidistant map about the mean direction (exact radius = angle to it)."""
    proj = azimuthal_equidistant(fs.features)
    _scatter(ax, proj.xy, fs)
    reach = max(float(proj.radius.max()) * 1.05, 10.0)
    t = np.linspace(0, 2 * np.pi, 361)
    for r in range(30, 181, 30):
        if r <= reach:
            ax.plot(r * np.cos(t), r * np.sin(t), ":", color="0.7", lw=0.7, zorder=0)
            ax.text(r * np.cos(np.pi / 4), r * np.sin(np.pi / 4), f"{r}°", fontsize=7,
                    color="0.45")
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        f"{fs.dim}-D features, azimuthal equidistant about the mean direction\n"
        f"distance from centre = exact angle; azimuth projected "
        f"({100 * proj.azimuth_share:.0f}% kept)",
        fontsize=9,
    )


def draw_angle_hist(ax: Axes, stats: ClassAngles) -> None:
    """Density histograms of intra-class and inter-class pair angles (2-degree bins)."""
    for values, color, label in (
        (stats.intra, "tab:blue", f"intra-class, mean {stats.mean_intra:.1f}°"),
        (stats.inter, "tab:orange", f"inter-class, mean {stats.mean_inter:.1f}°"),
    ):
        density = (np.histogram(values, ANGLE_BINS, density=True)[0] if values.size
                   else np.zeros(len(ANGLE_BINS) - 1))
        ax.stairs(density, ANGLE_BINS, fill=True, alpha=0.6, color=color, label=label)
    ax.set_xlim(0, 180)
    ax.set_xticks(range(0, 181, 30))
    ax.set_xlabel("angle between two features (degrees)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"pairwise angles among {stats.n_points} samples", fontsize=10)


def _legend(fig: Figure, fs: FeatureSet) -> None:
    colors = class_colors(fs.num_classes)
    handles = [Line2D([], [], ls="", marker="o", ms=6, color=colors[c])
               for c in range(fs.num_classes)]
    per_row = max(1, int(fig.get_figwidth() / 1.1))  # an entry takes ~1.1 in at 8 pt
    fig.legend(handles, fs.class_names, loc="outside lower center",
               ncols=min(fs.num_classes, 10, per_row), fontsize=8, frameon=False)


# ---------------------------------------------------------------------------- figures


def plot_features(fs: FeatureSet, size_px: tuple[int, int] | None = None,
                  dpi: int = DEFAULT_DPI, max_points: int | None = 3000) -> Figure:
    """One model's features: the panels suited to its feature dimension (see module doc)."""
    stats = class_angles(fs.features, fs.labels, max_points=max_points)
    if fs.dim == 2:
        fig = new_figure(size_px or (1650, 600), dpi)
        ax_plane, ax_circle, ax_hist = fig.subplots(1, 3)
        draw_plane(ax_plane, fs)
        draw_circle(ax_circle, fs)
    elif fs.dim == 3:
        fig = new_figure(size_px or (2000, 600), dpi)
        for i, (elev, azim) in enumerate(SPHERE_VIEWS):
            draw_sphere(fig.add_subplot(1, 4, i + 1, projection="3d"), fs, elev, azim)
        ax_hist = fig.add_subplot(1, 4, 4)
    else:
        fig = new_figure(size_px or (1200, 620), dpi)
        ax_proj, ax_hist = fig.subplots(1, 2)
        draw_projection(ax_proj, fs)
    draw_angle_hist(ax_hist, stats)
    _legend(fig, fs)
    if fs.title:
        fig.suptitle(fs.title)
    return fig


def plot_compare(sets: list[FeatureSet], size_px: tuple[int, int] | None = None,
                 dpi: int = DEFAULT_DPI, max_points: int | None = 3000) -> Figure:
    """Several models side by side, one column each (e.g. A-Softmax m = 1, 2, 3, 4).

    Rows: D = 2 raw plane, unit circle, angle histograms; D = 3 sphere, histograms;
    D > 3 azimuthal map, histograms. All models must share the feature dimension.
    """
    if not sets:
        raise HyperError("nothing to compare: give at least one checkpoint")
    dims = sorted({fs.dim for fs in sets})
    if len(dims) > 1:
        raise HyperError(f"--compare needs one feature dimension; got {dims}")
    dim, cols = dims[0], len(sets)
    rows = 3 if dim == 2 else 2
    fig = new_figure(size_px or (420 * cols + 40, 400 * rows + 60), dpi)
    for col, fs in enumerate(sets):
        top = col + 1
        if dim == 2:
            ax_top = fig.add_subplot(rows, cols, top)
            draw_plane(ax_top, fs)
            draw_circle(fig.add_subplot(rows, cols, cols + top), fs)
        elif dim == 3:
            ax_top = fig.add_subplot(rows, cols, top, projection="3d")
            draw_sphere(ax_top, fs, *SPHERE_VIEWS[0])
        else:
            ax_top = fig.add_subplot(rows, cols, top)
            draw_projection(ax_top, fs)
        ax_top.set_title(f"{fs.title or f'model {top}'}\n{ax_top.get_title()}", fontsize=10)
        stats = class_angles(fs.features, fs.labels, max_points=max_points)
        draw_angle_hist(fig.add_subplot(rows, cols, (rows - 1) * cols + top), stats)
    _legend(fig, sets[0])
    return fig


# ---------------------------------------------------------------------------- data


def collect_features(model: Any, images: Any, labels: Any, n: int | None = 5000,
                     device: str = "cpu", batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """``model.features`` of the first ``n`` images: ((n, D) float64, (n,) int64).

    ``images``: uint8 (N, C, H, W) tensor; they are scaled to [0, 1] as in training.
    """
    import torch

    count = len(images) if n is None else min(n, len(images))
    model = model.to(device).eval()
    out = []
    with torch.no_grad():
        for start in range(0, count, batch_size):
            x = images[start : min(start + batch_size, count)].to(device)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            out.append(model.features(x).float().cpu())
    feats = torch.cat(out).double().numpy()
    return feats, np.asarray(labels[:count]).astype(np.int64)
