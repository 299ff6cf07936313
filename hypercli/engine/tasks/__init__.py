"""Kinds of run (``recipe.task``), registered in ``hypercli.registry.TASKS``: each writes
its steps, the loop in ``hypercli.engine.trainer`` does the rest (see ``base.Task``)."""

from hypercli.engine.tasks import classify as classify  # noqa: F401  (registers "classify")
from hypercli.engine.tasks import gan as gan  # noqa: F401  (registers "gan")
from hypercli.engine.tasks.base import EpochStats, Task

__all__ = ["EpochStats", "Task"]
