"""Pictures of learning on the hypersphere: features, filter angles, curves, Thomson points.

Every function returns a ``matplotlib.figure.Figure`` (headless, no pyplot) and
``save_figure`` writes it (PNG, SVG or PDF by extension, atomically).
"""

from hypercli.viz.angles import (
    ClassAngles,
    azimuthal_equidistant,
    class_angles,
    filter_angles,
)
from hypercli.viz.curves import plot_curves, read_metrics
from hypercli.viz.features import FeatureSet, collect_features, plot_compare, plot_features
from hypercli.viz.figure import check_output_path, new_figure, parse_size, save_figure
from hypercli.viz.layers import layer_stats, plot_layers, select_layers
from hypercli.viz.sphere import plot_points

__all__ = [
    "ClassAngles",
    "FeatureSet",
    "azimuthal_equidistant",
    "check_output_path",
    "class_angles",
    "collect_features",
    "filter_angles",
    "layer_stats",
    "new_figure",
    "parse_size",
    "plot_compare",
    "plot_curves",
    "plot_features",
    "plot_layers",
    "plot_points",
    "read_metrics",
    "save_figure",
    "select_layers",
]
