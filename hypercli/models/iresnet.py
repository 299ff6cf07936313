"""iResNet-18/34/50/100: insightface's ArcFace backbones (Deng et al., "ArcFace", CVPR 2019).

Layout of deepinsight/insightface ``recognition/arcface_torch/backbones/iresnet.py``
(faces.md §3), for 3x112x112 aligned faces:

- stem: conv3x3 ``in_channels`` -> ``width`` (64), stride 1, no bias; BN; PReLU;
- four stages of ``width`` x 1, 2, 4, 8 channels (64/128/256/512), each of stride 2 (maps 56,
  28, 14, 7), blocks per stage r18 2, 2, 2, 2; r34 3, 4, 6, 3; r50 3, 4, 14, 3;
  r100 3, 13, 30, 3;
- block (``IBasicBlock``): BN -> conv3x3 -> BN -> PReLU -> conv3x3 (the stride here) -> BN,
  plus the identity, or conv1x1 (stride) + BN where the shape changes (the first block of
  every stage); no activation after the addition;
- head: BN2d -> flatten -> dropout (``dropout``, 0) -> Linear(512*7*7, 512) -> BatchNorm1d
  with its weight frozen at 1 (``requires_grad=False``): the 512-d embedding
  ``Net.features(x)``.

Under autocast the trunk runs in the autocast dtype and the head (the Linear and the
BatchNorm1d) in float32 with autocast off, as arcface_torch's ``fp16`` mode does.
Initialization as insightface: every convolution N(0, 0.1), BatchNorm weight 1 and bias 0,
the Linear at its operator's default. Module names follow insightface (``conv1``, ``bn1``,
``prelu``, ``layer1``..``layer4``, ``bn2``, ``fc``, ``features``) under ``Net.body``.

Pixels: (x - 127.5) / 127.5 of the 0..255 image, i.e. [-1, 1], whatever the data's
statistics (``input_normalization``, read by ``create_model``). BatchNorm is part of the
architecture, so ``model.batchnorm: false`` is refused. Convolutions are built with
``model.conv`` (SphereConv, decoupled operators drop in) and the Linear with ``model.linear``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.nn.functional import full_precision, upcast
from hypercli.registry import MODELS

INPUT_HW = (112, 112)
PIXELS = (0.5, 0.5)  # (x - 127.5) / 127.5 of x in 0..255, as mean/std of x / 255
CONV_STD = 0.1  # insightface's N(0, 0.1) convolution init


class IBasicBlock(nn.Module):
    """BN-conv3x3-BN-PReLU-conv3x3(stride)-BN plus the (projected) identity, no activation."""

    def __init__(self, conv: Callable[..., nn.Module], cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = conv(cin, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = conv(cout, cout, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride=stride, padding=0,
                                                 bias=False), nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """The iResNet trunk and its embedding head: (B, C, 112, 112) -> (B, embedding_size)."""

    def __init__(self, conv: Callable[..., nn.Module], linear: Callable[..., nn.Module],
                 in_channels: int, blocks: tuple[int, ...], width: int, embedding_size: int,
                 dropout: float) -> None:
        super().__init__()
        self.conv1 = conv(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-5)
        self.prelu = nn.PReLU(width)
        cin = width
        for i, n in enumerate(blocks):
            c = width * 2**i
            stage = [IBasicBlock(conv, cin, c, 2)] + [IBasicBlock(conv, c, c, 1)
                                                     for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            cin = c
        self.bn2 = nn.BatchNorm2d(cin, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = linear(cin * 7 * 7, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=1e-5)
        nn.init.ones_(self.features.weight)
        self.features.weight.requires_grad_(False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, CONV_STD)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.n_stages = len(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.dropout(torch.flatten(self.bn2(x), 1))  # (B, 512 * 7 * 7)
        with full_precision(x.device.type):  # the head in float32, autocast off
            return self.features(self.fc(upcast(x)))


def iresnet(name: str, blocks: tuple[int, ...], in_channels: int, image_size: tuple[int, int],
            conv: Callable[..., nn.Module], linear: Callable[..., nn.Module], batchnorm: bool,
            width: int, embedding_size: int, dropout: float) -> tuple[nn.Module, int]:
    """The iResNet body with ``blocks`` per stage; ``HyperError`` for a wrong image size or
    ``model.batchnorm: false``."""
    if not batchnorm:
        raise HyperError(f"{name}: model.batchnorm: false is not supported; BatchNorm is part "
                         "of the iResNet architecture (sphereface20/36/64 have none)")
    if not 0.0 <= dropout < 1.0:
        raise HyperError(f"{name}: model.args.dropout {dropout}: must lie in [0, 1)")
    h, w = image_size
    if (h, w) != INPUT_HW:
        raise HyperError(f"{name} takes 112x112 (HxW) face crops (insightface's alignment); "
                         f"the data gives {h}x{w}: set data.image_size to 112")
    return IResNet(conv, linear, in_channels, blocks, width, embedding_size, dropout), \
        embedding_size


@MODELS.register("iresnet18")
def iresnet18(in_channels: int, image_size: tuple[int, int], conv: Callable[..., nn.Module],
              linear: Callable[..., nn.Module], batchnorm: bool = True, width: int = 64,
              embedding_size: int = 512, dropout: float = 0.0) -> tuple[nn.Module, int]:
    """insightface iResNet-18: 112x112 faces, blocks 2/2/2/2 at 64..512, BN-FC-BN1d 512."""
    return iresnet("iresnet18", (2, 2, 2, 2), in_channels, image_size, conv, linear, batchnorm,
                   width, embedding_size, dropout)


@MODELS.register("iresnet34")
def iresnet34(in_channels: int, image_size: tuple[int, int], conv: Callable[..., nn.Module],
              linear: Callable[..., nn.Module], batchnorm: bool = True, width: int = 64,
              embedding_size: int = 512, dropout: float = 0.0) -> tuple[nn.Module, int]:
    """insightface iResNet-34: 112x112 faces, blocks 3/4/6/3 at 64..512, BN-FC-BN1d 512."""
    return iresnet("iresnet34", (3, 4, 6, 3), in_channels, image_size, conv, linear, batchnorm,
                   width, embedding_size, dropout)


@MODELS.register("iresnet50")
def iresnet50(in_channels: int, image_size: tuple[int, int], conv: Callable[..., nn.Module],
              linear: Callable[..., nn.Module], batchnorm: bool = True, width: int = 64,
              embedding_size: int = 512, dropout: float = 0.0) -> tuple[nn.Module, int]:
    """insightface iResNet-50 (ArcFace): 112x112 faces, blocks 3/4/14/3, BN-FC-BN1d 512."""
    return iresnet("iresnet50", (3, 4, 14, 3), in_channels, image_size, conv, linear,
                   batchnorm, width, embedding_size, dropout)


@MODELS.register("iresnet100")
def iresnet100(in_channels: int, image_size: tuple[int, int], conv: Callable[..., nn.Module],
               linear: Callable[..., nn.Module], batchnorm: bool = True, width: int = 64,
               embedding_size: int = 512, dropout: float = 0.0) -> tuple[nn.Module, int]:
    """insightface iResNet-100 (ArcFace): 112x112 faces, blocks 3/13/30/3, BN-FC-BN1d 512."""
    return iresnet("iresnet100", (3, 13, 30, 3), in_channels, image_size, conv, linear,
                   batchnorm, width, embedding_size, dropout)


for _builder in (iresnet18, iresnet34, iresnet50, iresnet100):
    _builder.rectangular = True  # type: ignore[attr-defined]  (checks 112x112 itself)
    _builder.input_normalization = PIXELS  # type: ignore[attr-defined]
