"""What MHE changes: the angles between the filters of a layer and their hyperspherical energy.

Minimum hyperspherical energy (Liu et al., "Learning towards Minimum Hyperspherical
Energy", NeurIPS 2018, Eq. 1) pushes the normalized filters of each layer apart. This
view draws, per chosen layer, the histogram of the pairwise angles between its flattened
filters, the density those angles would have for directions uniform on the sphere
(p(θ) ∝ sin^(d-2) θ), and the layer's energy; with several models, their histograms are
overlaid so that a baseline and an MHE model can be told apart at a glance.

    weights = select_layers(model, "all")           # {name: (N, ...) weight}
    fig = plot_layers([("baseline", w0), ("mhe", w1)])
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hypercli.errors import HyperError
from hypercli.viz.angles import as_matrix, filter_angles
from hypercli.viz.features import ANGLE_BINS
from hypercli.viz.figure import DEFAULT_DPI, new_figure

MAX_PANELS = 16


def weight_layers(model: Any) -> dict[str, Any]:
    """The layers MHE acts on, by module name in order: hidden conv/linear weights, then
    the classifier (``head``), as ``hypercli.mhe.layer_weights`` finds them; layers of one
    filter (no angle between two) are left out."""
    from hypercli.mhe.energy import layer_weights

    hidden, classifier = layer_weights(model)
    layers = {name: w.detach().cpu() for name, w in hidden if w.shape[0] >= 2}
    if classifier is not None and classifier[1].shape[0] >= 2:  # a GAN's D ends in one unit
        layers[classifier[0]] = classifier[1].detach().cpu()
    return layers


def select_layers(model: Any, selection: str | None = "all") -> dict[str, np.ndarray]:
    """The layers named by ``selection``: "all", or comma-separated names, globs or indices.

    Examples: ``"all"``, ``"features.0,head"``, ``"*conv*"``, ``"0,1,-1"`` (positions in
    the list of weight layers). An unknown name is a ``HyperError`` listing the names.
    """
    layers = weight_layers(model)
    if not layers:
        raise HyperError("the model has no layer with a weight matrix to draw")
    names = list(layers)
    if selection is None or selection.strip() in ("", "all"):
        chosen = names
    else:
        chosen = []
        for item in (s.strip() for s in selection.split(",")):
            if not item:
                continue
            if item.lstrip("-").isdigit():
                idx = int(item)
                if not -len(names) <= idx < len(names):
                    raise HyperError(f"--layers {item}: no layer at that position; "
                                     f"there are {len(names)} (0..{len(names) - 1})")
                matched = [names[idx]]
            else:
                matched = [n for n in names if fnmatch.fnmatchcase(n, item)]
            if not matched:
                raise HyperError(f"--layers {item!r} matches no layer; layers: {', '.join(names)}")
            chosen += [n for n in matched if n not in chosen]
    if len(chosen) > MAX_PANELS:
        raise HyperError(f"--layers selects {len(chosen)} layers; draw at most {MAX_PANELS} "
                         f"at once (e.g. --layers '0,1,2,-1')")
    return {n: as_matrix(layers[n], n) for n in chosen}


def energy(weight: Any, s: str = "1", half_space: bool = False) -> float:
    """Mean pairwise hyperspherical energy of a layer (MHE Eq. 1), float64.

    Computed by ``hypercli.mhe.hyperspherical_energy`` (with its ||w|| = sqrt(Σw² + 1e-4)),
    so the number drawn is the number the MHE regularizer minimizes.
    """
    import torch

    from hypercli.mhe import hyperspherical_energy

    w = torch.as_tensor(as_matrix(weight, "weight"))  # (N, D) float64
    with torch.no_grad():
        return float(hyperspherical_energy(w, s=s, half_space=half_space))


@dataclass
class LayerStats:
    """Pairwise filter angles and energy of one layer."""

    name: str
    num_filters: int
    dim: int  # length of a flattened filter
    angles: np.ndarray  # (N(N-1)/2,) degrees
    energy: float  # s = 1, mean over pairs
    energy_half: float  # half-space variant ([W, -W])

    @property
    def mean_angle(self) -> float:
        return float(self.angles.mean())

    @property
    def min_angle(self) -> float:
        return float(self.angles.min())

    def summary(self) -> dict[str, Any]:
        return {"layer": self.name, "filters": self.num_filters, "dim": self.dim,
                "mean_angle_deg": self.mean_angle, "min_angle_deg": self.min_angle,
                "energy_s1": self.energy, "energy_s1_half_space": self.energy_half}


def layer_stats(name: str, weight: Any, s: str = "1") -> LayerStats:
    w = as_matrix(weight, name)
    return LayerStats(name=name, num_filters=w.shape[0], dim=w.shape[1],
                      angles=filter_angles(w), energy=energy(w, s),
                      energy_half=energy(w, s, half_space=True))


def uniform_angle_density(dim: int, degrees: np.ndarray) -> np.ndarray:
    """Density (per degree) of the angle between two uniform directions in R^dim.

    p(θ) = sin^(dim-2) θ / ∫_0^π sin^(dim-2) t dt, with ∫ = √π Γ((dim-1)/2) / Γ(dim/2).
    """
    if dim < 2:
        return np.zeros_like(degrees)
    theta = np.radians(degrees)
    log_norm = 0.5 * math.log(math.pi) + math.lgamma((dim - 1) / 2) - math.lgamma(dim / 2)
    with np.errstate(divide="ignore"):
        log_p = (dim - 2) * np.log(np.sin(theta)) - log_norm
    return np.exp(log_p) * math.pi / 180.0


def plot_layers(models: list[tuple[str, dict[str, Any]]], size_px: tuple[int, int] | None = None,
                dpi: int = DEFAULT_DPI) -> tuple[Figure, list[list[LayerStats]]]:
    """One panel per layer; one histogram per model in each. Returns the figure and stats.

    ``models``: [(label, {layer name: weight})]; models are matched by layer name.
    """
    if not models:
        raise HyperError("no model to draw layers of")
    names = list(models[0][1])
    for label, layers in models[1:]:
        missing = [n for n in names if n not in layers]
        if missing:
            raise HyperError(f"{label} has no layer {missing[0]!r}; compare models of one "
                             f"architecture or choose shared layers with --layers")
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = new_figure(size_px or (400 * cols + 40, 330 * rows + 40), dpi)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    all_stats: list[list[LayerStats]] = [[] for _ in models]
    grid = np.linspace(0.5, 179.5, 359)
    colors = [f"C{i}" for i in range(len(models))]
    for ax, name in zip(axes, names, strict=False):
        dim = 0
        for i, (_, layers) in enumerate(models):
            st = layer_stats(name, layers[name])
            all_stats[i].append(st)
            dim = st.dim
            ax.stairs(np.histogram(st.angles, ANGLE_BINS, density=True)[0], ANGLE_BINS,
                      lw=1.5, color=colors[i],
                      label=f"E={st.energy:.4g}, half {st.energy_half:.4g}, "
                            f"min {st.min_angle:.1f}°")
        ax.plot(grid, uniform_angle_density(dim, grid), ":", color="0.4", lw=1,
                label="uniform directions")
        ax.set_xlim(0, 180)
        ax.set_xticks(range(0, 181, 30))
        ax.set_title(f"{name}: {st.num_filters} filters of dim {dim}", fontsize=9)
        ax.set_xlabel("angle between two filters (degrees)", fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(names):]:
        ax.set_axis_off()
    what = "pairwise filter angles; E = hyperspherical energy (s = 1, mean over pairs)"
    if len(models) == 1:
        what = f"{models[0][0]}: {what}"
    else:
        handles = [Line2D([], [], color=c, lw=2) for c in colors]
        fig.legend(handles, [label for label, _ in models], loc="outside lower center",
                   ncols=min(len(models), 4), fontsize=9, frameon=False)
    fig.suptitle(what, fontsize=10)
    return fig, all_stats
