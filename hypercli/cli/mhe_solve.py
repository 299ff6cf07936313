"""`hyper mhe-solve` (placeholder until issue 4, minimum hyperspherical energy lands)."""

from hypercli.cli.common import not_built


def mhe_solve() -> None:
    """Not built yet."""
    raise not_built("mhe-solve", "issue 4, minimum hyperspherical energy")
