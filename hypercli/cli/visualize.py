"""`hyper visualize-features` (placeholder until issue 5, visualize-features lands)."""

from hypercli.cli.common import not_built


def visualize_features() -> None:
    """Not built yet."""
    raise not_built("visualize-features", "issue 5, visualize-features")
