"""CIFAR ResNets (He et al. 2016, §4.2): 3 stages of n basic blocks, 6n+2 layers.

ResNet-20 (n=3) and ResNet-32 (n=5) with widths 16/32/64 by default; the decoupled-network
experiments use ResNet-32 with widths 96/192/384 (``model.args.widths``). Shortcuts that
change shape are 1x1 projections built with the same operator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hypercli.registry import MODELS


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU."""

    def __init__(self, conv: Callable[..., nn.Module], cin: int, cout: int, stride: int,
                 batchnorm: bool) -> None:
        super().__init__()
        bn = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        self.conv1 = conv(cin, cout, 3, stride=stride, padding=1, bias=not batchnorm)
        self.bn1 = bn(cout)
        self.conv2 = conv(cout, cout, 3, stride=1, padding=1, bias=not batchnorm)
        self.bn2 = bn(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                conv(cin, cout, 1, stride=stride, padding=0, bias=not batchnorm), bn(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def cifar_resnet(in_channels: int, conv: Callable[..., nn.Module], batchnorm: bool,
                 blocks: int, widths: tuple[int, ...]) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [conv(in_channels, widths[0], 3, stride=1, padding=1,
                                    bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(widths[0]))
    layers.append(nn.ReLU(inplace=True))
    cin = widths[0]
    for i, w in enumerate(widths):
        for j in range(blocks):
            layers.append(BasicBlock(conv, cin, w, 2 if (j == 0 and i > 0) else 1, batchnorm))
            cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), cin


@MODELS.register("resnet20")
def resnet20(in_channels: int, image_size: int, conv: Callable[..., nn.Module],
             linear: Callable[..., nn.Module], batchnorm: bool = True,
             widths: tuple[int, ...] = (16, 32, 64)) -> tuple[nn.Module, int]:
    """CIFAR ResNet-20: 3 stages x 3 basic blocks, widths 16/32/64, global average pool."""
    return cifar_resnet(in_channels, conv, batchnorm, 3, tuple(widths))


@MODELS.register("resnet32")
def resnet32(in_channels: int, image_size: int, conv: Callable[..., nn.Module],
             linear: Callable[..., nn.Module], batchnorm: bool = True,
             widths: tuple[int, ...] = (16, 32, 64)) -> tuple[nn.Module, int]:
    """CIFAR ResNet-32: 3 stages x 5 basic blocks, widths 16/32/64 (DCNet: 96/192/384)."""
    return cifar_resnet(in_channels, conv, batchnorm, 5, tuple(widths))
