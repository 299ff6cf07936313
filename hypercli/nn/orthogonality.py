"""The orthogonality regularizer of SphereNet / DCNet: λ · Σ_layers ½ ||Ŵ Ŵᵀ - I||²_F."""

from __future__ import annotations

import torch
from torch import nn

from hypercli.nn.functional import normalize_weight
from hypercli.nn.layers import select_layers
from hypercli.nn.regularizer import Regularizer
from hypercli.registry import REGULARIZERS


def orthogonality_penalty(weight: torch.Tensor, normalized: bool) -> torch.Tensor:
    """½ ||W Wᵀ - I||²_F of the flattened filters W (O, D) (TensorFlow's ``l2_loss``).

    ``normalized``: rows divided by sqrt(Σw² + 1e-4) first (DCNet's code); else raw W
    (SphereNet's code).
    """
    w = normalize_weight(weight) if normalized else weight.float()
    w = w.flatten(1)  # (O, D)
    gram = w @ w.t()  # (O, O)
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return 0.5 * (gram - eye).square().sum()


@REGULARIZERS.register("orthogonality")
class Orthogonality(Regularizer):
    """Orthogonal filters: weight · Σ_layers ½||WWᵀ - I||²_F (SphereNet; DCNet on unit W).

    ``weight``: the coefficient (default 2e-4, SphereNet's); ``normalized``: use unit-norm
    filters (DCNet's code uses ``normalized: true`` with weight 1e-5); ``layers``:
    ``angular`` (the SphereConv / decoupled operators, default), ``conv`` or ``all``.
    Logs the weighted term as ``orthogonality``.
    """

    def __init__(self, weight: float = 2e-4, normalized: bool = False,
                 layers: str = "angular") -> None:
        self.weight = float(weight)
        self.normalized = bool(normalized)
        self.layers = layers

    def attach(self, model: nn.Module) -> None:
        super().attach(model)
        self.modules = [m for _, m in select_layers(model, self.layers, "orthogonality")]

    def loss(self) -> tuple[torch.Tensor | None, dict[str, float]]:
        total = sum(orthogonality_penalty(m.weight, self.normalized) for m in self.modules)
        assert isinstance(total, torch.Tensor)
        term = self.weight * total
        return term, {"orthogonality": float(term.detach())}
