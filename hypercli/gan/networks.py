"""The SNGAN "standard CNN" generator and discriminator, registered as ``sngan-cnn``.

Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for Generative Adversarial
Networks", ICLR 2018, Appendix B, Table 3 (the CIFAR-10 / STL-10 networks)::

    generator (32 px)                         discriminator (32 px)
    z ∈ R^128 ~ N(0, I)                       x ∈ [-1, 1]^(C x 32 x 32)
    dense -> 4 x 4 x 512, BN, ReLU            conv 3x3 s1 64,  lReLU 0.1
    deconv 4x4 s2 256, BN, ReLU   (8 px)      conv 4x4 s2 64,  lReLU      (16 px)
    deconv 4x4 s2 128, BN, ReLU   (16 px)     conv 3x3 s1 128, lReLU
    deconv 4x4 s2 64,  BN, ReLU   (32 px)     conv 4x4 s2 128, lReLU      (8 px)
    conv 3x3 s1 C, tanh                       conv 3x3 s1 256, lReLU
                                              conv 4x4 s2 256, lReLU      (4 px)
                                              conv 3x3 s1 512, lReLU
                                              dense -> 1

Every discriminator layer is spectrally normalized
(``torch.nn.utils.parametrizations.spectral_norm``: W / σ(W) with σ from one power
iteration per forward pass in training mode, the paper's Algorithm 1; the weight is
reshaped to (out, -1) as in the paper).

Other image sizes. With ``k = len(widths) - 1`` stride-2 stages, the generator starts at
``size / 2^k`` pixels and the discriminator ends there, so the two mirror each other as
in the paper. The default widths depend on the size:

- divisible by 8 (32 px CIFAR-10, 48 px STL-10): k = 3, the paper's layout above;
- divisible by 4 only (28 px Fashion-MNIST): k = 2, the paper's layout without its
  coarsest stage. 28 = 7·2², so a third halving would leave 3.5 px; the layers kept have
  the paper's kernels, strides and widths::

      generator (28 px): dense 7 x 7 x 256, BN, ReLU -> deconv 4x4 s2 128 (14 px)
                         -> deconv 4x4 s2 64 (28 px) -> conv 3x3 s1 C, tanh
      discriminator:     conv 3x3 64, 4x4 s2 64 (14 px), 3x3 128, 4x4 s2 128 (7 px),
                         3x3 256, dense 7·7·256 -> 1

Explicit ``widths`` choose k (and the cost: the Fashion-MNIST recipes run at a quarter
of the width). Initialization, which the paper does not give, follows the authors' code
(chainer-gan-lib and wy1iu/MHE ``MHE-GAN``): weights N(0, 0.02²), biases 0; their
BatchNorm uses eps 2e-5 and decay 0.9 (torch momentum 0.1). That code also widens the
discriminator at each stride-2 convolution (64, 128, 128, 256, 256, 512, 512) where the
paper's table widens at the 3x3 one; ``widen_at_stride=True`` builds the code's version.

    g = GENERATORS.create("sngan-cnn", out_channels=1, image_size=28)
    d = DISCRIMINATORS.create("sngan-cnn", in_channels=1, image_size=28)
    d(g(torch.randn(8, 128))).shape  # (8,)
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from hypercli.errors import HyperError
from hypercli.registry import DISCRIMINATORS, GENERATORS

INIT_STD = 0.02  # the authors' N(0, 0.02²) weights
BN_EPS = 2e-5  # the authors' BatchNorm epsilon
PAPER_G_WIDTHS = (512, 256, 128, 64)
PAPER_D_WIDTHS = (64, 128, 256, 512)


def stages(image_size: int) -> int:
    """Stride-2 stages of the default layout: 3 for sizes divisible by 8, else 2 for sizes
    divisible by 4; ``HyperError`` otherwise."""
    if image_size >= 8 and image_size % 8 == 0:
        return 3
    if image_size >= 4 and image_size % 4 == 0:
        return 2
    raise HyperError(f"sngan-cnn: image size {image_size} px is not divisible by 4 (it starts "
                     "and ends at size / 2^k px); pass widths for another depth")


def _bottom(image_size: int, widths: list[int], what: str) -> int:
    """The size / 2^k pixels a network of ``len(widths)`` widths starts (G) or ends (D) at."""
    if len(widths) < 1 or any(w < 1 for w in widths):
        raise HyperError(f"sngan-cnn {what}: widths={widths} needs at least one width, each >= 1")
    k = len(widths) - 1
    if image_size % 2**k or image_size < 2**k:
        raise HyperError(f"sngan-cnn {what}: {k} stride-2 stages (widths={widths}) do not "
                         f"divide {image_size} px; use {stages(image_size) + 1} widths")
    return image_size // 2**k


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02²) weights and zero biases for every conv / linear layer (authors' code);
    BatchNorm keeps weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SNGANGenerator(nn.Module):
    """The SNGAN standard-CNN generator: z (B, z_dim) -> images (B, C, H, W) in [-1, 1].

    Args:
        z_dim: length of the latent code z ~ N(0, I) (128 in the paper).
        out_channels: image channels C.
        image_size: H = W in pixels.
        widths: channels of the dense layer's map and of each upsampling (default: the
            paper's 512/256/128/64, or 256/128/64 at 28 px); ``len(widths) - 1``
            upsamplings start from ``image_size / 2^(len - 1)`` px.
    """

    def __init__(self, z_dim: int = 128, out_channels: int = 3, image_size: int = 32,
                 widths: list[int] | None = None) -> None:
        super().__init__()
        if widths is None:
            widths = list(PAPER_G_WIDTHS[-(stages(image_size) + 1):])
        widths = [int(w) for w in widths]
        self.z_dim, self.out_channels, self.image_size = z_dim, out_channels, image_size
        self.bottom = _bottom(image_size, widths, "generator")
        self.width0 = widths[0]
        n0 = self.bottom * self.bottom * widths[0]
        self.fc = nn.Linear(z_dim, n0)
        self.bn0 = nn.BatchNorm1d(n0, eps=BN_EPS)  # on the dense output, as the authors' code
        ups: list[nn.Module] = []
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            ups += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1),
                    nn.BatchNorm2d(cout, eps=BN_EPS), nn.ReLU()]
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(widths[-1], out_channels, 3, stride=1, padding=1)
        init_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        h = self.bn0(self.fc(z)).relu()  # (B, bottom² w0)
        h = h.view(len(z), self.width0, self.bottom, self.bottom)
        return self.out(self.ups(h)).tanh()  # (B, C, H, W) in [-1, 1]


class SNGANDiscriminator(nn.Module):
    """The SNGAN standard-CNN discriminator: images (B, C, H, W) in [-1, 1] -> logits (B,).

    Args:
        in_channels: image channels C.
        image_size: H = W in pixels.
        widths: the width of each stage: a 3x3 s1 and a 4x4 s2 convolution per stage
            except the last, which is one 3x3 s1 convolution (default: the paper's
            64/128/256/512, or 64/128/256 at 28 px).
        slope: leaky ReLU slope (0.1 in the paper).
        spectral_norm: spectrally normalize every layer (off: the unnormalized baseline).
        widen_at_stride: each 4x4 s2 convolution already has the next stage's width, as
            chainer-gan-lib and the MHE-GAN code build it (64, 128, 128, 256, 256, 512, 512).
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32,
                 widths: list[int] | None = None, slope: float = 0.1,
                 spectral_norm: bool = True, widen_at_stride: bool = False) -> None:
        super().__init__()
        if widths is None:
            widths = list(PAPER_D_WIDTHS[:stages(image_size) + 1])
        widths = [int(w) for w in widths]
        self.bottom = _bottom(image_size, widths, "discriminator")
        self.slope = slope
        convs: list[nn.Module] = []
        cin = in_channels
        for i, w in enumerate(widths[:-1]):
            wide = widths[i + 1] if widen_at_stride else w
            convs += [nn.Conv2d(cin, w, 3, stride=1, padding=1),
                      nn.Conv2d(w, wide, 4, stride=2, padding=1)]
            cin = wide
        convs.append(nn.Conv2d(cin, widths[-1], 3, stride=1, padding=1))
        self.convs = nn.ModuleList(convs)
        self.fc = nn.Linear(self.bottom * self.bottom * widths[-1], 1)
        init_weights(self)
        if spectral_norm:
            for m in [*self.convs, self.fc]:
                _spectral_norm(m)

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for conv in self.convs:
            h = nn.functional.leaky_relu(conv(h), self.slope)
        return self.fc(h.flatten(1)).squeeze(1)  # (B,) logits D(x)


@GENERATORS.register("sngan-cnn")
def sngan_cnn_generator(out_channels: int, image_size: int, z_dim: int = 128,
                        widths: list[int] | None = None) -> SNGANGenerator:
    """SNGAN standard CNN (Miyato et al. 2018, Table 3a): dense, 4x4 s2 deconvs + BN, tanh."""
    return SNGANGenerator(z_dim, out_channels, image_size, widths)


@DISCRIMINATORS.register("sngan-cnn")
def sngan_cnn_discriminator(in_channels: int, image_size: int,
                            widths: list[int] | None = None, slope: float = 0.1,
                            spectral_norm: bool = True,
                            widen_at_stride: bool = False) -> SNGANDiscriminator:
    """SNGAN standard CNN (Miyato et al. 2018, Table 3b): 7 convs, lReLU 0.1, all SN."""
    return SNGANDiscriminator(in_channels, image_size, widths, slope, spectral_norm,
                              widen_at_stride)
