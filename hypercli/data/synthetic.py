"""A seeded, class-structured synthetic image dataset for tests and smoke runs.

Each class has a smooth random prototype; a sample is its prototype, randomly shifted,
plus noise. Linear models separate it only partly, CNNs learn it in a few steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hypercli.data.base import RawDataset, Split
from hypercli.registry import DATASETS


def _make(n: int, protos: torch.Tensor, noise: float, g: torch.Generator) -> Split:
    k, c, h, w = protos.shape
    labels = torch.randint(0, k, (n,), generator=g)
    shifts = torch.randint(-2, 3, (n, 2), generator=g)
    x = protos[labels]
    for dy, dx in torch.unique(shifts, dim=0).tolist():  # at most 25 shifts: roll by group
        sel = ((shifts[:, 0] == dy) & (shifts[:, 1] == dx)).nonzero().squeeze(1)
        x[sel] = torch.roll(x[sel], (dy, dx), dims=(2, 3))
    x = x + noise * torch.randn(x.shape, generator=g)
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return Split(images, labels.long())


@DATASETS.register("synthetic")
def synthetic(root: str | None = None, download: bool = False, num_classes: int = 10,
              channels: int = 1, image_size: int = 28, train_size: int = 2000,
              test_size: int = 500, noise: float = 0.25, seed: int = 0) -> RawDataset:
    """Synthetic class prototypes plus noise (any size, channels, classes); for tests."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_classes, channels, 4, 4, generator=g)
    protos = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear",
                           align_corners=False)
    train = _make(train_size, protos, noise, g)
    test = _make(test_size, protos, noise, g)
    names = [f"class{i}" for i in range(num_classes)]
    return RawDataset(train, test, names, mean=[0.5] * channels, std=[0.25] * channels)
