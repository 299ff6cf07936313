"""``Net``: normalization, a convolutional body, an optional embedding, and a margin head.

Images enter in [0, 1] (so attacks measure epsilon in pixel space); per-channel
normalization is the first layer. ``net(x)`` gives inference logits, ``net(x, y)`` the
training loss and (detached) logits in one forward pass, so DistributedDataParallel sees
every parameter through ``forward``.
"""

from __future__ import annotations

import torch
from torch import nn

from hypercli.checks import require_unit_interval
from hypercli.losses.base import MarginHead


class Normalize(nn.Module):
    """(x - mean) / std per channel; the statistics are buffers, saved with the weights."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Net(nn.Module):
    """A classifier on the hypersphere: ``head(embed(body(normalize(x))), y)``."""

    def __init__(self, normalize: Normalize, body: nn.Module, head: MarginHead,
                 embed: nn.Module | None = None) -> None:
        super().__init__()
        self.normalize = normalize
        self.body = body
        self.embed = embed if embed is not None else nn.Identity()
        self.head = head

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Deep features (B, D) of images (B, C, H, W) in [0, 1]."""
        return self.embed(self.body(self.normalize(x)))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        if not self.training:  # inference and attacks: the documented domain, checked
            require_unit_interval(x, "the model's input images")
        f = self.features(x)
        if labels is None:
            return self.head.logits(f)
        loss = self.head(f, labels)
        with torch.no_grad():
            logits = self.head.logits(f.detach())
        return loss, logits
