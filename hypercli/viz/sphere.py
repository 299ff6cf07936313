"""Points on the circle or the sphere: the picture of ``hyper mhe-solve --plot``.

The Thomson problem (MHE paper, Sec. 3; reference sheet §6) places N unit vectors to
minimize their energy. D = 2 draws them on the unit circle, D = 3 on the unit sphere
from two views; any D adds the histogram of pairwise angles and the smallest angle.

    fig = plot_points(points)          # (N, D) array or tensor
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hypercli.errors import HyperError
from hypercli.viz.angles import filter_angles, normalize_rows
from hypercli.viz.features import ANGLE_BINS
from hypercli.viz.figure import DEFAULT_DPI, new_figure

SPHERE_VIEWS = ((25.0, -50.0), (-25.0, 130.0))  # opposite sides of the sphere


def _draw_circle(ax: Any, unit: np.ndarray) -> None:
    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="0.7", lw=1)
    for x, y in unit:
        ax.plot([0, x], [0, y], color="C0", lw=0.6, alpha=0.5)
    ax.scatter(unit[:, 0], unit[:, 1], s=25, color="C3", zorder=3)
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_aspect("equal")
    ax.set_axis_off()


COORDINATION_COLORS = {5: "C3", 6: "0.55", 7: "C0"}  # defects strong, the lattice grey


def _colors(coordination: np.ndarray | None, n: int) -> list[str]:
    if coordination is None:
        return ["C3"] * n
    return [COORDINATION_COLORS.get(int(c), "C2") for c in coordination]


def _draw_sphere(ax: Any, unit: np.ndarray, elev: float, azim: float,
                 coordination: np.ndarray | None = None) -> None:
    u, v = np.mgrid[0 : 2 * np.pi : 37j, 0 : np.pi : 19j]
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v),
                      color="0.85", lw=0.4)
    # points facing the viewer drawn strong, the far side faint
    e, a = np.radians(elev), np.radians(azim)
    view = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    front = unit @ view >= 0
    from matplotlib.colors import to_rgba_array

    colors = to_rgba_array(_colors(coordination, len(unit)))
    for mask, alpha in ((~front, 0.25), (front, 1.0)):
        pts = unit[mask]
        ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=18, color=colors[mask], alpha=alpha,
                   depthshade=False)
    ax.view_init(elev=elev, azim=azim)
    ax.set_box_aspect((1, 1, 1), zoom=1.35)
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-1, 1)
    ax.set_axis_off()


def plot_points(points: Any, title: str | None = None, size_px: tuple[int, int] | None = None,
                dpi: int = DEFAULT_DPI, coordination: Any = None) -> Figure:
    """Unit vectors (N, D) drawn on the circle (D = 2) or sphere (D = 3), plus angle histogram.

    ``points`` are normalized first. D > 3 draws the histogram only. ``coordination`` (N,)
    (D = 3: each point's number of Voronoi neighbours, ``hypercli.mhe.thomson.census``)
    colours the points: 5 red, 6 grey, 7 blue, any other green, with a legend.
    """
    unit = normalize_rows(points)  # (N, D)
    n, dim = unit.shape
    if n < 2:
        raise HyperError(f"need at least 2 points to draw, got {n}")
    coord = None if coordination is None else np.asarray(coordination).reshape(-1)
    if coord is not None and len(coord) != n:
        raise HyperError(f"coordination has {len(coord)} entries for {n} points")
    angles = filter_angles(unit)
    panels = {2: 1, 3: 2}.get(dim, 0)
    fig = new_figure(size_px or (450 * (panels + 1) + 40, 460), dpi)
    if dim == 2:
        _draw_circle(fig.add_subplot(1, 2, 1), unit)
    elif dim == 3:
        for i, (elev, azim) in enumerate(SPHERE_VIEWS):
            ax = fig.add_subplot(1, 3, i + 1, projection="3d")
            _draw_sphere(ax, unit, elev, azim, coord)
            ax.set_title(f"view elev {elev:.0f}°, azim {azim:.0f}°", fontsize=9)
        if coord is not None:
            from matplotlib.lines import Line2D

            counts = {int(c): int((coord == c).sum()) for c in np.unique(coord)}
            handles = [Line2D([], [], ls="", marker="o", color=_colors(np.array([c]), 1)[0],
                              label=f"{c} neighbours: {k}") for c, k in counts.items()]
            fig.legend(handles=handles, loc="lower left", fontsize=8, frameon=False)
    ax_hist = fig.add_subplot(1, panels + 1, panels + 1)
    ax_hist.stairs(np.histogram(angles, ANGLE_BINS)[0], ANGLE_BINS, fill=True, color="C0")
    ax_hist.axvline(angles.min(), color="C3", ls="--", lw=1,
                    label=f"smallest {angles.min():.2f}°")
    ax_hist.set_xlim(0, 180)
    ax_hist.set_xticks(range(0, 181, 30))
    ax_hist.set_xlabel("angle between two points (degrees)")
    ax_hist.set_ylabel("pairs")
    ax_hist.legend(fontsize=8)
    fig.suptitle(title or f"{n} points on the unit sphere in R^{dim}", fontsize=11)
    return fig
