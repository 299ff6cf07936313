"""`hyper attack` (placeholder until issue 7, adversarial robustness lands)."""

from hypercli.cli.common import not_built


def attack() -> None:
    """Not built yet."""
    raise not_built("attack", "issue 7, adversarial robustness")
