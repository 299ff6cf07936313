"""The base class of classifier heads: one weight matrix, inference logits, a margin loss.

A head owns W of shape (num_classes, in_features). Subclasses write ``logits`` (what
inference and attacks see) and, for margin losses, ``margin_logits`` (the training logits
with the margin applied to the target class). The loss is softmax cross-entropy of the
margin logits, with optional label smoothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.nn.functional import full_precision, upcast


class MarginHead(nn.Module):
    """Base classifier head. ``forward(features, labels)`` returns the mean loss."""

    def __init__(self, in_features: int, num_classes: int, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Inference logits, (B, D) -> (B, C)."""
        raise NotImplementedError

    def margin_logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training logits with the margin on the target class; no margin by default."""
        return self.logits(features)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.margin_logits(features, labels)  # (B, C)
        with full_precision(logits.device.type):  # the loss in float32 (float64 stays)
            return F.cross_entropy(upcast(logits), labels,
                                   label_smoothing=self.label_smoothing)

    def logs(self) -> dict[str, float]:
        """Scalars worth logging each epoch (e.g. the A-Softmax lambda)."""
        return {}
