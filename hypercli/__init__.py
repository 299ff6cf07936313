"""hyper: deep learning on the hypersphere (SphereFace, SphereNet/DCNet, MHE).

``hypercli.load_checkpoint(path) -> (model, recipe)`` loads a trained model (eval mode,
images in [0, 1]). Heavy modules are imported lazily so the CLI starts instantly.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_checkpoint(path: Any, device: Any = "cpu"):
    """Load ``(model, recipe)`` from a checkpoint file or run directory (never runs code)."""
    from hypercli.engine.checkpoint import load_checkpoint as _load

    return _load(path, device)


def train(recipe: Any, **kwargs: Any) -> dict:
    """Train a recipe (a ``Recipe`` or a recipe name/path); see ``hypercli.engine.train``."""
    from hypercli.engine import train as _train
    from hypercli.recipe import Recipe, load_recipe

    return _train(recipe if isinstance(recipe, Recipe) else load_recipe(recipe), **kwargs)
