"""The authors' ImageNet ResNet of Decoupled Networks (Liu et al., CVPR 2018, ImageNet table).

Layout as in the authors' public ImageNet code (wy1iu/DCNets, ``dcnet_imagenet``), for
224x224 images:

- stem: 7x7 convolution, stride 2, 128 channels; 3x3 max-pooling, stride 2 (56x56);
- four stages of widths 128/256/512/1024 with 1/2/3/1 residual units; every stage after
  the first opens with a 3x3 stride-2 convolution to its width (28, 14, 7 px), so every
  shortcut is an identity;
- a unit is conv3x3-BN-PReLU-conv3x3-BN plus the identity shortcut, with no activation
  after the addition (the authors' ``_resnet_unit_v1``);
- every convolution but the classifier is followed by BatchNorm (eps 1e-3) and a PReLU
  (per channel, slope initialized 0, i.e. ReLU at the start), except the second of a unit;
- 7x7 average pooling (global here, so other sizes run too) to 1024 features; the 1x1
  classifier is the recipe's head.

18 convolutions plus the classifier: the paper's "ResNet-18". ``pool: flatten`` keeps the
whole final map (1024 x 7 x 7 features at 224 px) instead of averaging: the SphereNet
ImageNet ResNets use "a fully connected layer instead of average pooling to obtain the
final feature", which the authors found crucial for SphereNet. Differences from the
TensorFlow code: PyTorch's symmetric padding where TensorFlow's 'SAME' pads stride-2
layers one pixel more on the bottom/right, and BatchNorm's running statistics use
PyTorch's momentum 0.1 where the code averages with decay 0.999.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from hypercli.registry import MODELS


def _unit(conv: Callable[..., nn.Module], cin: int, cout: int, k: int, stride: int,
          batchnorm: bool, act: bool) -> list[nn.Module]:
    layers = [conv(cin, cout, k, stride=stride, padding=k // 2, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(cout, eps=1e-3))
    if act:
        layers.append(nn.PReLU(cout, init=0.0))
    return layers


class ResidualUnit(nn.Module):
    """x + BN(conv(PReLU(BN(conv(x))))), no activation after the sum (DCNet's code)."""

    def __init__(self, conv: Callable[..., nn.Module], width: int, batchnorm: bool) -> None:
        super().__init__()
        self.residual = nn.Sequential(*_unit(conv, width, width, 3, 1, batchnorm, True),
                                      *_unit(conv, width, width, 3, 1, batchnorm, False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)


@MODELS.register("dcnet-resnet18")
def dcnet_resnet18(in_channels: int, image_size: int, conv: Callable[..., nn.Module],
                   linear: Callable[..., nn.Module], batchnorm: bool = True,
                   widths: tuple[int, ...] = (128, 256, 512, 1024),
                   units: tuple[int, ...] = (1, 2, 3, 1),
                   pool: Literal["avg", "flatten"] = "avg") -> tuple[nn.Module, int]:
    """DCNet's ImageNet ResNet-18: 7x7/2 stem 128, max-pool, units 1/2/3/1 at 128..1024."""
    widths, units = tuple(widths), tuple(units)
    if len(widths) != len(units):
        raise ValueError(f"widths {list(widths)} and units {list(units)} need the same length")
    if pool not in ("avg", "flatten"):
        raise ValueError(f"pool {pool!r}: use avg or flatten")
    layers: list[nn.Module] = [*_unit(conv, in_channels, widths[0], 7, 2, batchnorm, True),
                               nn.MaxPool2d(3, stride=2, padding=1)]
    size = math.ceil(math.ceil(image_size / 2) / 2)  # after the stem and the max-pool
    cin = widths[0]
    for i, (w, n) in enumerate(zip(widths, units, strict=True)):
        if i > 0:
            layers += _unit(conv, cin, w, 3, 2, batchnorm, True)
            size = math.ceil(size / 2)
        layers += [ResidualUnit(conv, w, batchnorm) for _ in range(n)]
        cin = w
    if pool == "avg":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        return nn.Sequential(*layers), cin
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), cin * size * size
