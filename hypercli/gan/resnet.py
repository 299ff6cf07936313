"""The SNGAN ResNet generator and discriminator (CIFAR-10), registered as ``sngan-resnet``.

Miyato et al., "Spectral Normalization for GANs", ICLR 2018, Appendix B, Table 4 and
Figure 8, as their code builds it (pfnet-research/sngan_projection, ``gen_models/
resnet_32.py``, ``dis_models/snresnet_32.py`` and ``resblocks.py``)::

    generator                                  discriminator
    z ∈ R^128 -> dense 4 x 4 x 256             optimized block down 128   (16 px)
    up block 256                  (8 px)       block down 128             (8 px)
    up block 256                  (16 px)      block 128
    up block 256                  (32 px)      block 128
    BN, ReLU, conv 3x3 s1 C, tanh              ReLU, global sum pooling, dense -> 1

An up block is BN, ReLU, nearest 2x upsampling, conv 3x3, BN, ReLU, conv 3x3, plus a
shortcut of upsampling and a 1x1 conv. A discriminator block is ReLU, conv 3x3, ReLU,
conv 3x3 (then 2x2 average pooling when it goes down), plus a 1x1-conv shortcut when it
changes the width or size (else the identity); the optimized first block has no leading
ReLU and pools before its shortcut's 1x1 conv. Every discriminator layer is spectrally
normalized. Initialization as the code: Glorot-uniform, gain √2 on the blocks' 3x3
convolutions, 1 on the shortcuts, dense layers and the last convolution; BatchNorm eps 2e-5.

At 28 px (Fashion-MNIST) the generator starts at 7 px with two up blocks; the
discriminator is the same (its sum pooling takes any size). The paper trains these with
the hinge loss, n_dis 5, Adam (0, 0.9) and a learning rate decayed linearly to 0; the
``gan`` task keeps learning rates constant, so no bundled recipe uses them yet.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from hypercli.gan.networks import BN_EPS, stages
from hypercli.registry import DISCRIMINATORS, GENERATORS


def _glorot(module: nn.Module, gain: float = 1.0) -> nn.Module:
    nn.init.xavier_uniform_(module.weight, gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def _conv(cin: int, cout: int, k: int, gain: float = 1.0) -> nn.Conv2d:
    return _glorot(nn.Conv2d(cin, cout, k, padding=k // 2), gain)


class UpBlock(nn.Module):
    """Pre-activation residual block doubling the size: (B, cin, H, W) -> (B, cout, 2H, 2W)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.b1, self.b2 = nn.BatchNorm2d(cin, eps=BN_EPS), nn.BatchNorm2d(cout, eps=BN_EPS)
        self.c1, self.c2 = _conv(cin, cout, 3, math.sqrt(2)), _conv(cout, cout, 3, math.sqrt(2))
        self.c_sc = _conv(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(self.b1(x).relu(), scale_factor=2, mode="nearest")
        h = self.c2(self.b2(self.c1(h)).relu())
        return h + self.c_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """Discriminator block: (B, cin, H, W) -> (B, cout, H/2 or H, ...); ``optimized`` is the
    first block on the image (no leading ReLU, pooling before the shortcut's conv)."""

    def __init__(self, cin: int, cout: int, down: bool, optimized: bool = False) -> None:
        super().__init__()
        self.down, self.optimized = down, optimized
        self.c1, self.c2 = _conv(cin, cout, 3, math.sqrt(2)), _conv(cout, cout, 3, math.sqrt(2))
        self.c_sc = _conv(cin, cout, 1) if (cin != cout or down or optimized) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.c1(x if self.optimized else x.relu())
        h = self.c2(h.relu())
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.c_sc is None:
            return h + x
        if self.optimized:
            return h + self.c_sc(F.avg_pool2d(x, 2))
        s = self.c_sc(x)
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class SNGANResNetGenerator(nn.Module):
    """z (B, z_dim) -> images (B, C, H, W) in [-1, 1]; ``width`` channels throughout
    (256 in the paper); 3 up blocks from 4 px at 32 px, 2 from 7 px at 28 px."""

    def __init__(self, z_dim: int = 128, out_channels: int = 3, image_size: int = 32,
                 width: int = 256) -> None:
        super().__init__()
        k = stages(image_size)
        self.z_dim, self.width, self.bottom = z_dim, width, image_size // 2**k
        self.fc = _glorot(nn.Linear(z_dim, self.bottom * self.bottom * width))
        self.blocks = nn.Sequential(*[UpBlock(width, width) for _ in range(k)])
        self.bn = nn.BatchNorm2d(width, eps=BN_EPS)
        self.out = _conv(width, out_channels, 3)

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(len(z), self.width, self.bottom, self.bottom)
        return self.out(self.bn(self.blocks(h)).relu()).tanh()


class SNGANResNetDiscriminator(nn.Module):
    """Images (B, C, H, W) in [-1, 1] -> logits (B,): two blocks down, two at size,
    ReLU, sum over positions, dense; ``width`` channels (128 in the paper)."""

    def __init__(self, in_channels: int = 3, image_size: int = 32, width: int = 128,
                 spectral_norm: bool = True) -> None:
        super().__init__()
        stages(image_size)  # the sizes the generator supports
        self.blocks = nn.Sequential(DownBlock(in_channels, width, down=True, optimized=True),
                                    DownBlock(width, width, down=True),
                                    DownBlock(width, width, down=False),
                                    DownBlock(width, width, down=False))
        self.fc = _glorot(nn.Linear(width, 1, bias=False))
        if spectral_norm:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    _spectral_norm(m)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(x).relu().sum(dim=(2, 3))  # (B, width): global sum pooling
        return self.fc(h).squeeze(1)


@GENERATORS.register("sngan-resnet")
def sngan_resnet_generator(out_channels: int, image_size: int, z_dim: int = 128,
                           width: int = 256) -> SNGANResNetGenerator:
    """SNGAN ResNet (Miyato et al. 2018, Table 4): dense, up blocks of 256, BN ReLU conv tanh."""
    return SNGANResNetGenerator(z_dim, out_channels, image_size, width)


@DISCRIMINATORS.register("sngan-resnet")
def sngan_resnet_discriminator(in_channels: int, image_size: int, width: int = 128,
                               spectral_norm: bool = True) -> SNGANResNetDiscriminator:
    """SNGAN ResNet (Miyato et al. 2018, Table 4): 4 residual blocks of 128, sum pool, SN."""
    return SNGANResNetDiscriminator(in_channels, image_size, width, spectral_norm)
