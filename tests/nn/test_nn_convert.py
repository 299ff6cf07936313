"""hypercli.nn.convert on torchvision networks: geometry and weights kept, SphereConv outputs
equal to an independent per-patch float64 loop, errors that name the layer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from torch import nn

from hypercli.errors import HyperError
from hypercli.nn import DecoupledLinear, SphereConv2d, SphereLinear, TanhConv2d, convert

GEOMETRY = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
            "groups", "padding_mode")


def _convs(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def _tiny_resnet50_dilated() -> nn.Module:
    # the DeepLab trick on a classifier: the last two stages dilate instead of striding
    return tvm.resnet50(weights=None, replace_stride_with_dilation=[False, True, True])


MODELS = {
    "resnet18": lambda: tvm.resnet18(weights=None),
    "mobilenet_v3_small": lambda: tvm.mobilenet_v3_small(weights=None),  # depthwise: groups
    "resnet50-dilated": _tiny_resnet50_dilated,  # dilation 2 and 4
}


@pytest.mark.parametrize("name", list(MODELS))
def test_conversion_keeps_geometry_weights_and_shapes(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    before = {n: ({a: getattr(m, a) for a in GEOMETRY}, m.weight.detach().clone(),
                  None if m.bias is None else m.bias.detach().clone())
              for n, m in _convs(model).items()}
    linears = {n: m.weight.detach().clone() for n, m in model.named_modules()
               if isinstance(m, nn.Linear)}
    x = torch.rand(1, 3, 32 if name != "resnet50-dilated" else 16, 32)
    shape = model(x).shape
    out = convert(model, conv="sphere", linear="sphere", conv_args={"angle": "linear"})
    assert out is model
    after = _convs(model)
    assert set(after) == set(before)
    for n, m in after.items():
        geometry, weight, bias = before[n]
        assert type(m) is SphereConv2d and m.angle == "linear", n
        assert {a: getattr(m, a) for a in GEOMETRY} == geometry, n
        assert torch.equal(m.weight, weight), n
        assert (m.bias is None) == (bias is None) and (bias is None or torch.equal(m.bias, bias))
    for n, w in linears.items():
        m = model.get_submodule(n)
        assert type(m) is SphereLinear and torch.equal(m.weight, w), n
    y = model(x)
    assert y.shape == shape and torch.isfinite(y).all()
    if name == "mobilenet_v3_small":
        assert any(m.groups == m.in_channels > 1 for m in after.values())
        assert any(m.bias is not None for m in after.values())  # squeeze-excitation convs
    if name == "resnet50-dilated":
        assert {m.dilation for m in after.values()} >= {(1, 1), (2, 2), (4, 4)}


def _sphere_reference(x: np.ndarray, conv: nn.Conv2d, angle: str) -> np.ndarray:
    """SphereConv by its definition (hypersphere.md §3), one output value at a time, in
    float64: cos θ = <w, x_patch> / (sqrt(Σw² + 1e-4) sqrt(Σ x_patch² + 1e-4))."""
    w = conv.weight.detach().double().numpy()
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    g = conv.groups
    o, cg, kh, kw = w.shape
    b, c, h, wd = x.shape
    xp = np.zeros((b, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((b, o, oh, ow))
    per_group = o // g
    for n in range(b):
        for f in range(o):
            grp = f // per_group
            filt = w[f]
            wn = math.sqrt(float((filt * filt).sum()) + 1e-4)
            for i in range(oh):
                for j in range(ow):
                    patch = xp[n, grp * cg:(grp + 1) * cg,
                               i * sh:i * sh + dh * (kh - 1) + 1:dh,
                               j * sw:j * sw + dw * (kw - 1) + 1:dw]  # (C/G, kh, kw)
                    xn = math.sqrt(float((patch * patch).sum()) + 1e-4)
                    cos = float((filt * patch).sum()) / (wn * xn)
                    cos = min(1.0, max(-1.0, cos))
                    out[n, f, i, j] = cos if angle == "cosine" else 1 - 2 * math.acos(cos) / math.pi
    if conv.bias is not None:
        out += conv.bias.detach().double().numpy()[None, :, None, None]
    return out


def _layer_io(model: nn.Module, layer: str, x: torch.Tensor):
    """The input and output of ``layer`` when ``model`` runs on ``x``."""
    seen = {}
    handle = model.get_submodule(layer).register_forward_hook(
        lambda m, i, o: seen.update(x=i[0].detach(), y=o.detach()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen["x"], seen["y"]


@pytest.mark.parametrize(("name", "layer", "angle"), [
    ("resnet18", "conv1", "cosine"),  # 7x7, stride 2, padding 3, 3 input channels
    ("resnet18", "layer2.0.downsample.0", "linear"),  # 1x1, stride 2
    ("resnet18", "layer3.1.conv2", "linear"),  # 3x3 at 256 channels
    ("mobilenet_v3_small", "features.1.block.0.0", "cosine"),  # depthwise, stride 2
    ("resnet50-dilated", "layer4.1.conv2", "cosine"),  # 3x3, dilation 4, padding 4
])
def test_converted_outputs_equal_a_per_patch_reference(name, layer, angle):
    torch.manual_seed(1)
    model = convert(MODELS[name]().eval(), conv="sphere", conv_args={"angle": angle})
    size = 32 if name != "resnet50-dilated" else 16
    x_in, y = _layer_io(model, layer, torch.rand(1, 3, size, size))
    conv = model.get_submodule(layer)
    if conv.in_channels * conv.out_channels > 20000:  # keep the loop short: a slice of filters
        keep = 6
        sub = nn.Conv2d(conv.in_channels, keep, conv.kernel_size, conv.stride, conv.padding,
                        conv.dilation, conv.groups, conv.bias is not None)
        with torch.no_grad():
            sub.weight.copy_(conv.weight[:keep])
        ref, y = _sphere_reference(x_in.double().numpy(), sub, angle), y[:, :keep]
    else:
        ref = _sphere_reference(x_in.double().numpy(), conv, angle)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.double().numpy(), ref, atol=2e-5, rtol=0)


def test_skip_and_converting_twice():
    model = tvm.resnet18(weights=None)
    convert(model, conv="dc-tanh", skip=["conv1", "layer4"])
    assert type(model.conv1) is nn.Conv2d
    assert all(type(m) is nn.Conv2d for m in model.layer4.modules() if isinstance(m, nn.Conv2d))
    assert isinstance(model.layer1[0].conv1, TanhConv2d)
    first = model.layer1[0].conv1
    convert(model, conv="sphere")  # operators already on the sphere stay as they are
    assert model.layer1[0].conv1 is first and type(model.conv1) is SphereConv2d


def test_attention_out_proj_is_left_alone_and_linear_args_apply():
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    convert(layer, linear="decoupled", linear_args={"magnitude": "ball"})
    assert type(layer.self_attn.out_proj) is not DecoupledLinear  # used without its forward
    assert isinstance(layer.linear1, DecoupledLinear) and layer.linear1.magnitude == "ball"
    assert layer(torch.rand(2, 5, 16)).shape == (2, 5, 16)


def test_a_bare_layer_and_padding_modes():
    old = nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2, padding_mode="reflect")
    new = convert(old, conv="sphere")
    assert type(new) is SphereConv2d and new.padding == "same" and new.padding_mode == "reflect"
    assert new(torch.rand(1, 4, 9, 9)).shape == (1, 6, 9, 9)


def test_an_operator_that_cannot_represent_a_layer_names_it():
    def no_groups(*args, groups=1, **kwargs):
        if groups != 1:
            raise ValueError("groups are not supported")
        return SphereConv2d(*args, **kwargs)

    model = tvm.mobilenet_v3_small(weights=None)
    with pytest.raises(HyperError, match=r"layer 'features\.1\.block\.0\.0'.*groups are not"):
        convert(model, conv=no_groups)


def test_a_subclass_with_its_own_forward_is_an_error():
    class Scaled(nn.Conv2d):
        def forward(self, x):
            return 2 * super().forward(x)

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(Scaled(2, 2, 3)))
    with pytest.raises(HyperError, match=r"layer '1\.0' is a Scaled.*skip="):
        convert(model, conv="sphere")
    convert(model, conv="sphere", skip=["1.0"])
    assert type(model[0]) is SphereConv2d and type(model[1][0]) is Scaled


def test_unknown_operator_and_arguments():
    with pytest.raises(HyperError, match="unknown conv operator 'spheer'"):
        convert(nn.Conv2d(1, 1, 1), conv="spheer")
    with pytest.raises(HyperError, match="takes no argument 'angel'"):
        convert(nn.Conv2d(1, 1, 1), conv="sphere", conv_args={"angel": "linear"})


def test_layers_whose_forward_never_runs_are_put_back_with_an_example():
    class Functional(nn.Module):  # as Swin's attention: the weight used without the layer
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(torch.nn.functional.linear(x, self.proj.weight, self.proj.bias))

    model = Functional()
    proj = model.proj
    with pytest.warns(UserWarning, match=r"1 layers \(proj\) are used by their parent"):
        convert(model, linear="sphere", example=torch.rand(2, 4))
    assert model.proj is proj and type(model.out) is SphereLinear
    plain = convert(Functional(), linear="sphere")  # without an example nothing can tell
    assert type(plain.proj) is SphereLinear
