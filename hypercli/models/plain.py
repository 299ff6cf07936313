"""Plain CNNs: the authors' Plain-CNN-9 (MHE, SphereNet) and a small one for 28x28 images.

Plain-CNN-9 (Liu et al. 2018, MHE §5.1; SphereNet-9): three stages of ``depth`` 3x3
convolutions (widths 64/128/256), each stage followed by 2x2 max-pooling, then one
convolution covering the remaining map (4x4 on CIFAR) to ``final_width`` features; the
1x1 classifier is the head. Every convolution is followed by BatchNorm (optional) and ReLU.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hypercli.registry import MODELS


def conv_unit(conv: Callable[..., nn.Module], cin: int, cout: int, k: int, padding: int,
              batchnorm: bool) -> list[nn.Module]:
    layers = [conv(cin, cout, k, stride=1, padding=padding, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


def plain_cnn(in_channels: int, image_size: int, conv: Callable[..., nn.Module],
              batchnorm: bool, widths: tuple[int, ...], depth: int,
              final_width: int) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    cin, size = in_channels, image_size
    for w in widths:
        for _ in range(depth):
            layers += conv_unit(conv, cin, w, 3, 1, batchnorm)
            cin = w
        layers.append(nn.MaxPool2d(2))
        size //= 2
    if size < 1:
        raise ValueError(f"{len(widths)} pooling stages do not fit {image_size}px images")
    layers += conv_unit(conv, cin, final_width, size, 0, batchnorm)  # -> (B, final, 1, 1)
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), final_width


@MODELS.register("plain-cnn-9")
def plain_cnn_9(in_channels: int, image_size: int, conv: Callable[..., nn.Module],
                linear: Callable[..., nn.Module], batchnorm: bool = True,
                widths: tuple[int, ...] = (64, 128, 256), depth: int = 3,
                final_width: int = 256) -> tuple[nn.Module, int]:
    """Authors' Plain-CNN-9: 3x(3 conv 3x3) widths 64/128/256 + pools, conv to 256 features."""
    return plain_cnn(in_channels, image_size, conv, batchnorm, tuple(widths), depth, final_width)


@MODELS.register("plain-cnn-small")
def plain_cnn_small(in_channels: int, image_size: int, conv: Callable[..., nn.Module],
                    linear: Callable[..., nn.Module], batchnorm: bool = True,
                    widths: tuple[int, ...] = (32, 64, 128), depth: int = 1,
                    final_width: int = 128) -> tuple[nn.Module, int]:
    """Small plain CNN for 28x28 inputs: 3 conv 3x3 (32/64/128) + pools, conv to 128 features."""
    return plain_cnn(in_channels, image_size, conv, batchnorm, tuple(widths), depth, final_width)
