"""The registered GAN networks: shapes, the SNGAN layouts of the paper, spectral norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.registry import DISCRIMINATORS, GENERATORS

SHAPES = [(1, 28), (3, 32)]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.mark.parametrize("name", GENERATORS.names())
@pytest.mark.parametrize("channels, size", SHAPES)
def test_every_generator_makes_images_of_the_data_shape(name, channels, size):
    g = GENERATORS.create(name, out_channels=channels, image_size=size, z_dim=128)
    x = g(torch.randn(3, 128))
    assert x.shape == (3, channels, size, size)
    assert x.abs().max() <= 1.0  # tanh


@pytest.mark.parametrize("name", DISCRIMINATORS.names())
@pytest.mark.parametrize("channels, size", SHAPES)
def test_every_discriminator_gives_one_logit_per_image(name, channels, size):
    d = DISCRIMINATORS.create(name, in_channels=channels, image_size=size)
    assert d(torch.rand(3, channels, size, size) * 2 - 1).shape == (3,)


def _convs(d):
    return [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in d.modules()
            if isinstance(m, nn.Conv2d)]


def test_the_32px_layout_is_table_3_of_the_sngan_paper():
    d = DISCRIMINATORS.create("sngan-cnn", in_channels=3, image_size=32)
    assert _convs(d) == [(64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1),
                         (256, 4, 2), (512, 3, 1)]
    assert d.fc.in_features == 4 * 4 * 512 and d.fc.out_features == 1
    assert d.slope == 0.1
    code = DISCRIMINATORS.create("sngan-cnn", in_channels=3, image_size=32, widen_at_stride=True)
    assert [c for c, _, _ in _convs(code)] == [64, 128, 128, 256, 256, 512, 512]
    g = GENERATORS.create("sngan-cnn", out_channels=3, image_size=32)
    assert g.fc.out_features == 4 * 4 * 512
    ups = [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in g.modules()
           if isinstance(m, nn.ConvTranspose2d)]
    assert ups == [(256, 4, 2), (128, 4, 2), (64, 4, 2)]
    assert (g.out.in_channels, g.out.out_channels, g.out.kernel_size) == (64, 3, (3, 3))
    assert sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in g.modules()) == 4


def test_the_28px_layout_drops_the_coarsest_stage():
    d = DISCRIMINATORS.create("sngan-cnn", in_channels=1, image_size=28)
    assert _convs(d) == [(64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1)]
    assert d.fc.in_features == 7 * 7 * 256
    g = GENERATORS.create("sngan-cnn", out_channels=1, image_size=28)
    assert g.fc.out_features == 7 * 7 * 256
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [128, 64]


def test_widths_that_do_not_divide_the_image_are_an_error():
    with pytest.raises(HyperError, match="do not divide 28 px"):
        GENERATORS.create("sngan-cnn", out_channels=1, image_size=28, widths=[8, 8, 8, 8])
    with pytest.raises(HyperError, match="not divisible by 4"):
        DISCRIMINATORS.create("sngan-cnn", in_channels=1, image_size=30)


def _spectral_weights(d):
    """(name, module) of every spectrally normalized layer of ``d``."""
    from torch.nn.utils import parametrize

    return [(n, m) for n, m in d.named_modules() if parametrize.is_parametrized(m, "weight")]


def test_spectral_norm_gives_every_layer_a_largest_singular_value_of_one():
    d = DISCRIMINATORS.create("sngan-cnn", in_channels=1, image_size=16, widths=[8, 16, 32])
    layers = _spectral_weights(d)
    assert len(layers) == 6  # five convolutions and the dense layer: every layer
    x = torch.rand(2, 1, 16, 16)
    d.train()
    with torch.no_grad():
        for _ in range(300):  # one power iteration per forward pass (Algorithm 1)
            d(x)
    d.eval()
    for name, m in layers:
        w = m.weight.detach().double()  # W / σ̂ with the converged estimate σ̂
        sigma = torch.linalg.svdvals(w.reshape(w.shape[0], -1))[0]
        assert abs(float(sigma) - 1.0) < 1e-3, (name, float(sigma))
        raw = m.parametrizations.weight.original.detach().double()
        raw_sigma = torch.linalg.svdvals(raw.reshape(raw.shape[0], -1))[0]
        assert abs(float(raw_sigma) - 1.0) > 0.05, name  # it is the normalization that does it


def test_without_spectral_norm_no_layer_is_normalized():
    d = DISCRIMINATORS.create("sngan-cnn", in_channels=1, image_size=16, widths=[8, 16, 32],
                              spectral_norm=False)
    assert _spectral_weights(d) == []


def test_the_resnet_discriminator_normalizes_all_of_its_eleven_layers():
    d = DISCRIMINATORS.create("sngan-resnet", in_channels=3, image_size=32)
    names = [n for n, _ in _spectral_weights(d)]
    # optimized block and block down: c1, c2, c_sc; the two blocks at size: c1, c2; fc
    assert len(names) == 11 and names[-1] == "fc"
    assert [n for n in names if n.endswith("c_sc")] == ["blocks.0.c_sc", "blocks.1.c_sc"]
    x = torch.rand(2, 3, 32, 32)
    assert d.blocks[:2](x).shape == (2, 128, 8, 8) and d.blocks(x).shape == (2, 128, 8, 8)
