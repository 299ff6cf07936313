"""SphereConv and the decoupled convolutions against float64 per-patch references (F.unfold)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypercli.nn import DecoupledConv2d, SphereConv2d
from hypercli.nn.conv import DECOUPLED_ANGLES, SPHERE_ANGLES
from hypercli.nn.functional import patch_sq_sum
from hypercli.nn.patch_cosine import PatchCosine
from hypercli.registry import CONVS

D = torch.float64
GEOMETRIES = [  # kernel, stride, padding, dilation, groups, padding_mode
    (3, 1, 1, 1, 1, "zeros"),
    (3, 2, 1, 1, 1, "zeros"),
    (3, 1, 0, 1, 1, "zeros"),
    (3, 2, 3, 1, 1, "zeros"),  # padding beyond k/2 (no avg-pool shortcut)
    (3, 1, 2, 2, 1, "zeros"),  # dilation
    ((2, 3), (2, 1), (1, 0), 1, 1, "zeros"),
    (1, 2, 0, 1, 1, "zeros"),
    (1, 1, 1, 1, 1, "zeros"),
    (3, 1, 1, 1, 2, "zeros"),  # groups
    (3, 2, 1, 2, 4, "zeros"),
    (3, 1, 1, 1, 1, "reflect"),
    (3, 1, 2, 1, 1, "circular"),
    (3, 1, "same", 1, 1, "zeros"),
    ((4, 2), 1, "same", (1, 2), 1, "zeros"),  # even kernel: asymmetric 'same' padding
]


def reference_cos(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """cos θ of every (filter, patch) pair from explicit patches, float64, (B, O, H', W')."""
    w = conv.weight.detach().to(D)
    x = x.to(D)
    out_shape = F.conv2d(x, w, None, conv.stride, conv.padding if conv.padding_mode == "zeros"
                         else 0, conv.dilation, conv.groups) if conv.padding_mode == "zeros" \
        else None
    if conv.padding_mode != "zeros":
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        padding = (0, 0)
    elif conv.padding == "same":  # explicit asymmetric padding as torch defines 'same'
        pads = []
        for d, k in zip(conv.dilation[::-1], conv.kernel_size[::-1], strict=True):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        x = F.pad(x, pads)
        padding = (0, 0)
    else:
        padding = conv.padding
    b = x.shape[0]
    o, cg = w.shape[:2]
    patches = F.unfold(x, conv.kernel_size, conv.dilation, padding, conv.stride)  # (B, C*k, L)
    k = conv.kernel_size[0] * conv.kernel_size[1]
    og = o // conv.groups
    cos = torch.empty(b, o, patches.shape[-1], dtype=D)
    for g in range(conv.groups):
        p = patches[:, g * cg * k:(g + 1) * cg * k]  # (B, cg*k, L)
        xn = (p.square().sum(1) + 1e-4).sqrt()  # (B, L)
        for j in range(g * og, (g + 1) * og):
            wj = w[j].reshape(-1)
            wn = math.sqrt(float(wj.square().sum()) + 1e-4)
            cos[:, j] = torch.einsum("d,bdl->bl", wj, p) / (wn * xn)
    if out_shape is None:
        out_shape = F.conv2d(x, w, None, conv.stride, 0, conv.dilation, conv.groups)
    return cos.view(b, o, *out_shape.shape[2:])


def reference_norm(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """||x|| per patch from unfold (first group's channels for the first output), float64."""
    ones = torch.ones(1, x.shape[1] // conv.groups, *conv.kernel_size, dtype=D)
    x = x.to(D)
    if conv.padding_mode != "zeros":
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        padding: object = 0
    else:
        padding = conv.padding
    sq = F.conv2d(x.square()[:, : x.shape[1] // conv.groups], ones, None, conv.stride, padding,
                  conv.dilation)
    return (sq + 1e-4).sqrt()


def make(cls, geometry, **kw):
    k, s, p, d, g, mode = geometry
    torch.manual_seed(0)
    return cls(8, 8, k, stride=s, padding=p, dilation=d, groups=g, bias=False,
               padding_mode=mode, dtype=D, **kw)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_patch_sum_is_unfold_sum(geometry):
    conv = make(SphereConv2d, geometry)
    x = torch.randn(2, 8, 9, 10, dtype=D)
    xp, padding = conv._conv_inputs(x)  # padding modes and asymmetric 'same' applied
    sq = patch_sq_sum(xp, conv.kernel_size, conv.stride, padding, conv.dilation, conv.groups)
    cos = reference_cos(conv, x)
    assert sq.shape == (2, conv.groups, *cos.shape[2:])
    torch.testing.assert_close((sq[:, :1] + 1e-4).sqrt(), reference_norm(conv, x))


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_sphereconv_cosine_matches_patches(geometry):
    conv = make(SphereConv2d, geometry, angle="cosine")
    x = torch.randn(2, 8, 9, 10, dtype=D)
    torch.testing.assert_close(conv(x), reference_cos(conv, x))


def sigmoid_literal(theta: torch.Tensor, k) -> torch.Tensor:
    """SphereNet's sigmoid exactly as written in the paper / code."""
    k = torch.as_tensor(k, dtype=D)
    c = (1 + torch.exp(-math.pi / (2 * k))) / (1 - torch.exp(-math.pi / (2 * k)))
    e = torch.exp(theta / k - math.pi / (2 * k))
    return c * (1 - e) / (1 + e)


@pytest.mark.parametrize("angle", ["cosine", "linear", "sigmoid", "sigmoid_learnable", "none"])
def test_sphereconv_angles(angle):
    geometry = (3, 2, 1, 1, 1, "zeros")
    conv = make(SphereConv2d, geometry, angle=angle)
    if conv.k is not None:
        with torch.no_grad():
            conv.k.copy_(torch.linspace(-0.9, 1.2, 8, dtype=D))  # |k| + 0.05 must be used
    x = torch.randn(2, 8, 9, 10, dtype=D)
    cos = reference_cos(conv, x)
    theta = torch.acos(cos)
    if angle == "cosine":
        expected = cos
    elif angle == "linear":
        expected = 1 - 2 * theta / math.pi
    elif angle == "sigmoid":
        expected = sigmoid_literal(theta, 0.3)
    elif angle == "sigmoid_learnable":
        expected = sigmoid_literal(theta, conv.k.detach().abs().view(1, -1, 1, 1) + 0.05)
    else:  # weight-normalized only: <w, x> / ||w||
        w = conv.weight.detach()
        wn = (w.square().flatten(1).sum(1) + 1e-4).sqrt().view(1, -1, 1, 1)
        expected = F.conv2d(x, w, None, conv.stride, conv.padding) / wn
    torch.testing.assert_close(conv(x), expected)


def test_sigmoid_endpoints_and_learnable_k_init():
    conv = SphereConv2d(3, 5, 3, angle="sigmoid_learnable")
    assert torch.equal(conv.k.detach(), torch.full((5,), 0.7))
    theta = torch.tensor([0.0, math.pi / 2, math.pi], dtype=D)
    torch.testing.assert_close(sigmoid_literal(theta, 0.3), torch.tensor([1.0, 0.0, -1.0], dtype=D))


def magnitude_reference(norm, magnitude, rho, tanh_form):
    if magnitude == "sphere":
        return torch.ones_like(norm)
    if magnitude == "ball":
        return torch.minimum(norm, rho) / rho
    if magnitude == "tanh":
        return rho * torch.tanh(norm / rho) if tanh_form == "paper" else torch.tanh(norm / rho)
    if magnitude == "linear":
        return norm
    return torch.where(norm < rho, norm, 0.5 * norm + 0.5 * rho)


def angle_reference(cos, angle):
    if angle == "cosine":
        return cos
    if angle == "linear":
        return 1 - 2 * torch.acos(cos) / math.pi
    return torch.sign(cos) * cos**2


@pytest.mark.parametrize("magnitude", ["sphere", "ball", "tanh", "linear", "seg"])
@pytest.mark.parametrize("angle", ["linear", "cosine", "sqcosine"])
@pytest.mark.parametrize("normalize", [False, True])
def test_decoupled_matches_reference(magnitude, angle, normalize):
    geometry = (3, 1, 1, 1, 1, "zeros")
    conv = make(DecoupledConv2d, geometry, magnitude=magnitude, angle=angle,
                normalize=normalize)
    if conv.r is not None:
        with torch.no_grad():
            conv.r.copy_(torch.linspace(-2.0, 3.0, 8, dtype=D))  # rho = r^2 + 1e-4
    x = torch.randn(2, 8, 7, 6, dtype=D)
    cos = reference_cos(conv, x)
    norm = reference_norm(conv, x)
    if normalize:
        norm = norm / norm.mean()  # training mode: the batch mean
    rho = (torch.linspace(-2.0, 3.0, 8, dtype=D) ** 2 + 1e-4).view(1, -1, 1, 1)
    expected = magnitude_reference(norm, magnitude, rho, "paper") * angle_reference(cos, angle)
    torch.testing.assert_close(conv(x), expected)


def test_tanh_code_form_and_running_mean():
    torch.manual_seed(1)
    conv = DecoupledConv2d(4, 6, 3, padding=1, bias=False, magnitude="tanh", tanh_form="code",
                           normalize=True, dtype=D)
    batches = [torch.randn(3, 4, 6, 6, dtype=D) * s for s in (1.0, 2.0, 3.0)]
    means = [float(reference_norm(conv, b).mean()) for b in batches]
    for b in batches:
        conv(b)
    # TensorFlow's zero-debiased EMA, decay 0.999
    ema = 0.0
    for m in means:
        ema = 0.999 * ema + 0.001 * m
    debiased = ema / (1 - 0.999**3)
    assert int(conv.norm_updates) == 3
    torch.testing.assert_close(float(conv.running_norm), ema)
    conv.eval()
    x = torch.randn(2, 4, 6, 6, dtype=D)
    rho = 1.0 + 1e-4
    expected = torch.tanh(reference_norm(conv, x) / debiased / rho) * reference_cos(conv, x)
    torch.testing.assert_close(conv(x), expected)
    fresh = DecoupledConv2d(4, 6, 3, padding=1, magnitude="ball", normalize=True).eval()
    assert torch.isfinite(fresh(torch.randn(2, 4, 6, 6))).all()  # never trained: batch mean


def test_bias_is_added_after_the_angle():
    torch.manual_seed(0)
    conv = SphereConv2d(3, 4, 3, padding=1, bias=True, angle="linear", dtype=D)
    with torch.no_grad():
        conv.bias.copy_(torch.arange(4, dtype=D))
    x = torch.randn(2, 3, 5, 5, dtype=D)
    expected = 1 - 2 * torch.acos(reference_cos(conv, x)) / math.pi + conv.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(conv(x), expected)


def variants(name: str) -> list[dict]:
    """The option sets worth covering for a registered operator (a new one gets its defaults)."""
    cls = CONVS.get(name)
    if issubclass(cls, SphereConv2d):
        return [{"angle": a} for a in SPHERE_ANGLES]
    if issubclass(cls, DecoupledConv2d):
        return [{"angle": a} for a in DECOUPLED_ANGLES] + [{"normalize": True}]
    return [{}]


CASES = [(n, kw) for n in CONVS.names() if n != "conv" for kw in variants(n)]
CASE_IDS = [f"{n}-{'-'.join(map(str, kw.values()))}" for n, kw in CASES]


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_gradcheck(name, kw):
    torch.manual_seed(0)
    conv = CONVS.get(name)(2, 3, 3, stride=2, padding=1, bias=True, dtype=D, **kw)
    names = [n for n, _ in conv.named_parameters()]

    def f(x, *params):
        return torch.func.functional_call(conv, dict(zip(names, params, strict=True)), (x,))

    x = torch.randn(2, 2, 5, 5, dtype=D, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in conv.parameters()]
    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, fast_mode=True)


def edge_inputs():
    """Zero patches, a patch parallel and one antiparallel to the filter (cos = ±1)."""
    w = torch.randn(1, 2, 3, 3)
    x = torch.zeros(3, 2, 3, 3)
    x[1] = w[0] * 5.0
    x[2] = -w[0] * 1e3
    return w, x


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_no_nan_at_the_edges(name, kw):
    torch.manual_seed(0)
    conv = CONVS.get(name)(2, 1, 3, bias=False, **kw)
    w, x = edge_inputs()
    for weight in (w, torch.zeros_like(w)):
        with torch.no_grad():
            conv.weight.copy_(weight)
        conv.zero_grad()
        xg = x.clone().requires_grad_(True)
        y = conv(xg)
        assert torch.isfinite(y).all(), y
        y.sum().backward()
        assert torch.isfinite(xg.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in conv.parameters() if p.grad is not None)
    if name == "sphere" and kw["angle"] != "none":
        with torch.no_grad():
            conv.weight.copy_(w)
        y = conv(x).flatten()
        assert y[1] > 0.99 and y[2] < -0.99  # parallel / antiparallel patches


@pytest.mark.parametrize("name", CONVS.names())
def test_every_conv_drops_into_a_model(name):
    """Same signature and output shape as nn.Conv2d; trains a step finitely, also in bf16."""
    torch.manual_seed(0)
    cls = CONVS.get(name)
    model = nn.Sequential(cls(3, 8, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(8),
                          nn.ReLU(), cls(8, 8, 3, stride=2, padding=1, bias=False),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    x = torch.rand(4, 3, 8, 8)
    assert model[0](x).shape == nn.Conv2d(3, 8, 3, padding=1)(x).shape
    loss = F.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x * 300.0)  # large activations: squares overflow fp16
    assert torch.isfinite(y).all()
    y.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bf16_autocast_matches_float32():
    torch.manual_seed(0)
    conv = SphereConv2d(8, 16, 3, padding=1, bias=False, angle="linear")
    x = torch.randn(2, 8, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    assert y.dtype == torch.bfloat16
    assert (y.float() - conv(x)).abs().max() < 0.05


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_patch_cosine_backward_is_exact(geometry):
    """The hand-written backward of (cos θ, ||x||) against finite differences, every path."""
    conv = make(SphereConv2d, geometry)
    x = torch.randn(1, 8, 5, 6, dtype=D)
    xp, padding = conv._conv_inputs(x)
    w_hat = conv.weight.detach().clone()
    geo = (conv.kernel_size, conv.stride, padding, conv.dilation, conv.groups)
    wsum = torch.randn(2, generator=torch.Generator().manual_seed(0), dtype=D)

    def f(x, w):  # both outputs in the loss, so both incoming gradients are exercised
        cos, norm = PatchCosine.apply(x, w, geo)
        return wsum[0] * cos.sum() + wsum[1] * (norm.square() * norm).sum() + cos.square().sum()

    inputs = (xp.requires_grad_(True), w_hat.requires_grad_(True))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, fast_mode=True)
    assert torch.autograd.gradcheck(lambda x: PatchCosine.apply(x, w_hat.detach(), geo)[1],
                                    (xp,), eps=1e-6, atol=1e-5, fast_mode=True)
