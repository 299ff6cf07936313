"""SphereFace-20/36/64 (Liu et al., "SphereFace", CVPR 2017, Table 2): the face CNNs of A-Softmax.

Layout of the authors' Caffe "SpherefaceNet-20" (wy1iu/sphereface, ``sphereface_model.prototxt``
and ``make_spherenet.py``; faces.md §3), for 3x112x96 aligned faces:

- four stages of ``width`` x 1, 2, 4, 8 channels (64/128/256/512); each opens with a 3x3
  convolution, stride 2, pad 1, plus PReLU (maps 56x48, 28x24, 14x12, 7x6);
- residual units per stage: SphereFace-20 1, 2, 4, 1; -36 2, 4, 8, 2; -64 3, 8, 16, 3 (the
  paper; the released Caffe SphereFace-64 file has 3, 7, 16, 3). A unit is
  conv3x3 -> PReLU -> conv3x3 -> PReLU plus the identity shortcut, nothing after the sum;
- no BatchNorm anywhere; PReLU with one slope per channel, initialized 0.25 (Caffe's and
  torch's default);
- fc5: ``embedding_size`` (512) units on the flattened 512x7x6 map, no activation: the
  face embedding ``Net.features(x)``; the recipe's head (A-Softmax m=4 in the paper) follows.

Initialization as in the prototxt: stage convolutions and fc5 "xavier" (Caffe's filler:
uniform in +-sqrt(3 / fan_in)) with bias 0; unit convolutions Gaussian sigma 0.01 with the
bias frozen at 0 (Caffe ``lr_mult: 0, decay_mult: 0``: here ``requires_grad=False``, so no
optimizer, weight decay included, moves it). The Caffe solver's ``lr_mult: 2, decay_mult: 0``
on the other biases is an optimizer setting (``optimizer.no_decay: [bias]`` covers the decay).

Pixels: (x - 127.5) / 128 of the 0..255 image whatever the data's statistics
(``input_normalization``, read by ``create_model``). ``model.batchnorm`` is ignored: the
network has no BatchNorm by design. ``model.args.crop: insightface`` takes insightface's
112x112 aligned crops and drops 8 columns on each side inside the model (the two 5-point
templates differ by 8 px in x, faces.md §3), giving the 112x96 geometry. Every convolution
is built with ``model.conv`` and fc5 with ``model.linear``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.registry import MODELS

INPUT_HW = (112, 96)  # SphereFace's aligned crops, H x W
INSIGHTFACE_HW = (112, 112)
INSIGHTFACE_MARGIN = 8  # columns dropped on each side: 112 - 2 * 8 = 96
PIXELS = (127.5 / 255, 128 / 255)  # (x - 127.5) / 128 of x in 0..255, as mean/std of x / 255


def caffe_xavier_(weight: torch.Tensor) -> torch.Tensor:
    """Caffe's "xavier" filler (its default ``variance_norm: FAN_IN``): uniform in
    +-sqrt(3 / fan_in), fan_in = in_channels x kernel area (or in_features)."""
    return nn.init.kaiming_uniform_(weight, nonlinearity="linear")  # bound sqrt(3 / fan_in)


class CropColumns(nn.Module):
    """(B, C, H, W) -> (B, C, H, W - 2 * margin): the columns ``margin:W - margin``."""

    def __init__(self, margin: int) -> None:
        super().__init__()
        self.margin = int(margin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.margin: x.shape[-1] - self.margin]

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


def _stage_conv(conv: Callable[..., nn.Module], cin: int, cout: int) -> nn.Module:
    """The stride-2 convolution that opens a stage: Caffe xavier weights, bias 0 (trained)."""
    layer = conv(cin, cout, 3, stride=2, padding=1, bias=True)
    caffe_xavier_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _unit_conv(conv: Callable[..., nn.Module], width: int) -> nn.Module:
    """A residual-unit convolution: Gaussian sigma 0.01 weights, bias frozen at 0."""
    layer = conv(width, width, 3, stride=1, padding=1, bias=True)
    nn.init.normal_(layer.weight, 0.0, 0.01)
    nn.init.zeros_(layer.bias)
    layer.bias.requires_grad_(False)
    return layer


class SphereUnit(nn.Module):
    """x + PReLU(conv(PReLU(conv(x)))): SphereFace's residual unit, nothing after the sum."""

    def __init__(self, conv: Callable[..., nn.Module], width: int) -> None:
        super().__init__()
        self.conv1 = _unit_conv(conv, width)
        self.prelu1 = nn.PReLU(width)
        self.conv2 = _unit_conv(conv, width)
        self.prelu2 = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.prelu2(self.conv2(self.prelu1(self.conv1(x))))


def sphereface(name: str, units: tuple[int, ...], in_channels: int,
               image_size: tuple[int, int], conv: Callable[..., nn.Module],
               linear: Callable[..., nn.Module], width: int, embedding_size: int,
               crop: str | None) -> tuple[nn.Module, int]:
    """The SphereFace body with ``units`` residual units per stage: (B, C, H, W) in
    normalized pixels -> (B, embedding_size). Raises ``HyperError`` for a wrong image size
    or crop."""
    if crop not in (None, "insightface"):
        raise HyperError(f"{name}: model.args.crop {crop!r}: use insightface (or leave it "
                         "unset for 112x96 crops)")
    want = INSIGHTFACE_HW if crop else INPUT_HW
    h, w = image_size
    if (h, w) != want:
        fix = ("set data.image_size to [112, 112], or unset model.args.crop for 112x96 crops"
               if crop else "set data.image_size to [112, 96], or to 112 with "
               "model.args.crop=insightface for insightface's 112x112 crops")
        raise HyperError(f"{name} takes {want[0]}x{want[1]} (HxW) face crops"
                         + (" with model.args.crop=insightface" if crop else
                            " (or 112x112 with model.args.crop=insightface)")
                         + f"; the data gives {h}x{w}: {fix}")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if crop:
        layers["crop"] = CropColumns(INSIGHTFACE_MARGIN)
    cin = in_channels
    for i, n in enumerate(units):
        c = width * 2**i
        stage = [_stage_conv(conv, cin, c), nn.PReLU(c)] + [SphereUnit(conv, c) for _ in range(n)]
        layers[f"stage{i + 1}"] = nn.Sequential(*stage)
        cin = c
    layers["flatten"] = nn.Flatten()
    fc5 = linear(cin * 7 * 6, embedding_size, bias=True)  # the 7x6 map of 112x96 after 4 strides
    caffe_xavier_(fc5.weight)
    nn.init.zeros_(fc5.bias)
    layers["fc5"] = fc5
    return nn.Sequential(layers), embedding_size


@MODELS.register("sphereface20")
def sphereface20(in_channels: int, image_size: tuple[int, int], conv: Callable[..., nn.Module],
                 linear: Callable[..., nn.Module], batchnorm: bool = True, width: int = 64,
                 embedding_size: int = 512,
                 crop: Literal["insightface"] | None = None) -> tuple[nn.Module, int]:
    """SphereFace-20 (CVPR 2017): 112x96 faces, units 1/2/4/1 at 64..512, no BN, fc5 512."""
    return sphereface("sphereface20", (1, 2, 4, 1), in_channels, image_size, conv, linear,
                      width, embedding_size, crop)


@MODELS.register("sphereface36")
def sphereface36(in_channels: int, image_size: tuple[int, int], conv: Callable[..., nn.Module],
                 linear: Callable[..., nn.Module], batchnorm: bool = True, width: int = 64,
                 embedding_size: int = 512,
                 crop: Literal["insightface"] | None = None) -> tuple[nn.Module, int]:
    """SphereFace-36 (CVPR 2017): 112x96 faces, units 2/4/8/2 at 64..512, no BN, fc5 512."""
    return sphereface("sphereface36", (2, 4, 8, 2), in_channels, image_size, conv, linear,
                      width, embedding_size, crop)


@MODELS.register("sphereface64")
def sphereface64(in_channels: int, image_size: tuple[int, int], conv: Callable[..., nn.Module],
                 linear: Callable[..., nn.Module], batchnorm: bool = True, width: int = 64,
                 embedding_size: int = 512,
                 crop: Literal["insightface"] | None = None) -> tuple[nn.Module, int]:
    """SphereFace-64 (CVPR 2017): 112x96 faces, units 3/8/16/3 (Caffe file: 3/7/16/3), fc5 512.

    The paper's unit counts; the released Caffe ``sphereface_64`` prototxt has 3, 7, 16, 3."""
    return sphereface("sphereface64", (3, 8, 16, 3), in_channels, image_size, conv, linear,
                      width, embedding_size, crop)


for _builder in (sphereface20, sphereface36, sphereface64):
    _builder.rectangular = True  # type: ignore[attr-defined]  (takes (H, W): 112x96)
    _builder.input_normalization = PIXELS  # type: ignore[attr-defined]
