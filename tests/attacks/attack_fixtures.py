"""Small CPU models and data shared by the attack tests (imported as fixtures)."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def small_cnn(seed: int = 0) -> nn.Module:
    """Conv-BN-ReLU-pool-linear on (B, 1, 12, 12) images, 10 classes, in eval mode."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 6 * 6, 10),
    )
    with torch.no_grad():  # non-trivial BatchNorm statistics, so train/eval mode differ
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(name="model")
def model_fixture() -> nn.Module:
    return small_cnn()


@pytest.fixture(name="batch")
def batch_fixture() -> tuple[torch.Tensor, torch.Tensor]:
    """32 images in [0, 1] with some pixels at 0 and 1 (the clip matters), random labels."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 1, 12, 12, generator=g)
    x[:, :, :2] = 0.0
    x[:, :, -2:] = 1.0
    y = torch.randint(0, 10, (32,), generator=g)
    return x, y
