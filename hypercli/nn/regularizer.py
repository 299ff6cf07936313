"""The base class of training-loss regularizers (MHE, orthogonality, weight projection).

A regularizer is a component passed to the engine, not a flag scattered through it: the
recipe lists ``regularizers: [{name: mhe, args: {...}}]``; the engine builds each with
``REGULARIZERS.create(name, **args)``, calls ``attach(model)`` once, adds ``loss()`` to
every training step's objective and calls ``after_step(step)`` after each optimizer step.
"""

from __future__ import annotations

import torch
from torch import nn


class Regularizer:
    """Adds a term to the training loss and/or acts on weights after each step."""

    def attach(self, model: nn.Module) -> None:
        """Choose the layers to act on. ``model`` is the bare model (never a DDP wrapper)."""
        self.model = model

    def loss(self) -> tuple[torch.Tensor | None, dict[str, float]]:
        """The weighted term to add to the loss (or None), and floats to log for it."""
        return None, {}

    def after_step(self, step: int) -> None:
        """Called after optimizer step ``step`` (1-based, global across epochs)."""
