"""SphereFace-20/36/64 and iResNet-18/34/50/100 against faces.md §3: counts, layouts, init,
frozen parts, fp32 head, crops, pixels, operators, input-size errors, a short training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from hypercli.engine import load_checkpoint, read_checkpoint, train
from hypercli.engine.optim import build_optimizer
from hypercli.errors import HyperError
from hypercli.models import create_model
from hypercli.nn import SphereConv2d, SphereLinear
from hypercli.nn.conv import DecoupledConv2d
from hypercli.recipe import OptimizerConfig, Recipe, build_recipe
from hypercli.registry import MODELS

SPHERE_UNITS = {"sphereface20": (1, 2, 4, 1), "sphereface36": (2, 4, 8, 2),
                "sphereface64": (3, 8, 16, 3)}
IRESNET_BLOCKS = {"iresnet18": (2, 2, 2, 2), "iresnet34": (3, 4, 6, 3),
                  "iresnet50": (3, 4, 14, 3), "iresnet100": (3, 13, 30, 3)}
SF_HW, IR_HW = (112, 96), (112, 112)


def net_of(name: str, size=None, channels: int = 3, classes: int = 5, mean=None, std=None,
           **model):
    args = model.pop("args", {})
    r = Recipe.model_validate({"model": {"name": name, "args": args, **model}})
    if size is None:
        size = SF_HW if name.startswith("sphereface") else IR_HW
    return create_model(r, classes, channels, size, mean, std)


# --- parameter counts, written from the layer lists of faces.md §3 -------------------------

def sphereface_count(units, w: int, emb: int, cin: int = 3) -> tuple[int, int]:
    """(all parameters, frozen ones): per stage a 3x3 conv with bias and a PReLU (one slope
    per channel), then per unit two (3x3 conv with bias + PReLU); fc5 on 8w x 7 x 6 with
    bias. The frozen ones are the unit convolutions' biases."""
    total = frozen = 0
    for i, n in enumerate(units):
        c = w * 2**i
        total += cin * c * 9 + c + c
        total += n * 2 * (c * c * 9 + c + c)
        frozen += n * 2 * c
        cin = c
    total += cin * 7 * 6 * emb + emb
    return total, frozen


def iresnet_count(blocks, w: int, emb: int, cin: int = 3) -> tuple[int, int]:
    """(all parameters, frozen ones): stem conv3x3 (no bias) + BN (2 per channel) + PReLU;
    per block BN(in), conv3x3, BN, PReLU, conv3x3, BN, and on the first block of each stage
    (stride 2) a conv1x1 + BN shortcut; head BN2d, Linear(8w x 7 x 7, emb) with bias, BN1d
    (its weight frozen)."""
    total = cin * w * 9 + 2 * w + w
    cin = w
    for i, n in enumerate(blocks):
        c = w * 2**i
        for j in range(n):
            a = cin if j == 0 else c
            total += 2 * a + a * c * 9 + 2 * c + c + c * c * 9 + 2 * c
            if j == 0:
                total += a * c + 2 * c
        cin = c
    total += 2 * cin + cin * 49 * emb + emb + 2 * emb
    return total, emb


def counts(net: nn.Module) -> tuple[int, int]:
    params = list(net.body.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if not p.requires_grad)


@pytest.mark.parametrize("name", list(SPHERE_UNITS))
def test_sphereface_parameter_count(name):
    assert counts(net_of(name, args={"width": 4, "embedding_size": 16})) == \
        sphereface_count(SPHERE_UNITS[name], 4, 16)


@pytest.mark.parametrize("name", list(IRESNET_BLOCKS))
def test_iresnet_parameter_count(name):
    assert counts(net_of(name, args={"width": 4, "embedding_size": 16})) == \
        iresnet_count(IRESNET_BLOCKS[name], 4, 16)


def test_full_width_counts():
    sf = net_of("sphereface20")
    assert counts(sf) == sphereface_count((1, 2, 4, 1), 64, 512)
    assert counts(sf)[0] == 22_670_656
    ir = net_of("iresnet50")
    assert counts(ir) == iresnet_count((3, 4, 14, 3), 64, 512)
    assert counts(ir)[0] == 43_590_848


# --- layouts: forward passes written from faces.md in float64 ------------------------------

def _randomize(net: nn.Module, scale: float) -> None:
    """Weights away from their init (so the reference sees every term), frozen ones kept;
    the pixel scale set exactly in float64 (``Normalize`` made it in float32)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        net.normalize.mean.fill_(127.5 / 255)
        net.normalize.std.fill_(scale / 255)
        for p in net.parameters():
            if not p.requires_grad:
                continue
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:
                p.copy_(0.25 + 0.2 * torch.randn(p.shape, generator=g))
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))


def sphereface_reference(sd: dict, x: torch.Tensor, units) -> torch.Tensor:
    """faces.md §3: (x - 127.5) / 128; per stage conv3x3/2 + PReLU, units conv-PReLU-conv-PReLU
    plus identity; fc5 on the flattened 7x6 map."""
    h = (255 * x - 127.5) / 128
    shapes = []
    for i, n in enumerate(units):
        p = f"body.stage{i + 1}."
        h = F.prelu(F.conv2d(h, sd[p + "0.weight"], sd[p + "0.bias"], stride=2, padding=1),
                    sd[p + "1.weight"])
        for j in range(n):
            q = f"{p}{j + 2}."
            r = F.prelu(F.conv2d(h, sd[q + "conv1.weight"], sd[q + "conv1.bias"], padding=1),
                        sd[q + "prelu1.weight"])
            r = F.prelu(F.conv2d(r, sd[q + "conv2.weight"], sd[q + "conv2.bias"], padding=1),
                        sd[q + "prelu2.weight"])
            h = h + r
        shapes.append(tuple(h.shape[-2:]))
    assert shapes == [(56, 48), (28, 24), (14, 12), (7, 6)]
    return F.linear(h.flatten(1), sd["body.fc5.weight"], sd["body.fc5.bias"])


def test_sphereface20_forward_equals_the_layer_list():
    torch.manual_seed(0)
    net = net_of("sphereface20", args={"width": 4, "embedding_size": 8}).double().eval()
    _randomize(net, 128.0)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    sd = net.state_dict()
    x = torch.randint(0, 256, (1, 3, 112, 96)).double() / 255
    ref = sphereface_reference(sd, x, (1, 2, 4, 1))
    out = net.features(x)
    assert out.shape == (1, 8)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def iresnet_reference(sd: dict, x: torch.Tensor, blocks) -> torch.Tensor:
    """faces.md §3 in eval mode: (x - 127.5) / 127.5; stem conv3x3 (no bias) BN PReLU; blocks
    BN conv BN PReLU conv(stride) BN + identity or conv1x1+BN; BN2d, flatten, FC, BN1d."""

    def bn(h, p):
        return F.batch_norm(h, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"],
                            sd[p + "bias"], False, 0.0, 1e-5)

    assert "body.conv1.bias" not in sd
    h = (255 * x - 127.5) / 127.5
    h = F.prelu(bn(F.conv2d(h, sd["body.conv1.weight"], padding=1), "body.bn1."),
                sd["body.prelu.weight"])
    for i, n in enumerate(blocks):
        for j in range(n):
            q = f"body.layer{i + 1}.{j}."
            s = 2 if j == 0 else 1
            r = F.conv2d(bn(h, q + "bn1."), sd[q + "conv1.weight"], padding=1)
            r = F.prelu(bn(r, q + "bn2."), sd[q + "prelu.weight"])
            r = bn(F.conv2d(r, sd[q + "conv2.weight"], stride=s, padding=1), q + "bn3.")
            short = h if j else bn(F.conv2d(h, sd[q + "downsample.0.weight"], stride=2),
                                   q + "downsample.1.")
            h = r + short
    assert h.shape[-2:] == (7, 7)
    h = bn(h, "body.bn2.").flatten(1)
    h = F.linear(h, sd["body.fc.weight"], sd["body.fc.bias"])
    return bn(h, "body.features.")


def test_iresnet18_forward_equals_the_layer_list():
    torch.manual_seed(0)
    net = net_of("iresnet18", args={"width": 4, "embedding_size": 8}).double().eval()
    _randomize(net, 127.5)
    sd = net.state_dict()
    assert torch.equal(sd["body.features.weight"], torch.ones(8, dtype=torch.float64))
    x = torch.randint(0, 256, (2, 3, 112, 112)).double() / 255
    out = net.features(x)
    assert out.shape == (2, 8)
    torch.testing.assert_close(out, iresnet_reference(sd, x, (2, 2, 2, 2)), rtol=1e-10,
                               atol=1e-10)


@pytest.mark.parametrize("name", ["sphereface36", "iresnet34"])
def test_features_are_b_by_512(name):
    net = net_of(name, args={"width": 2}).eval()
    x = torch.rand(3, 3, *(SF_HW if name.startswith("sphere") else IR_HW))
    assert net.features(x).shape == (3, 512) and net(x).shape == (3, 5)


# --- initialization and frozen parameters ---------------------------------------------------

def test_sphereface_init():
    net = net_of("sphereface20", args={"width": 16, "embedding_size": 32})
    body = net.body
    stages = [body.stage1, body.stage2, body.stage3, body.stage4]
    for s in stages:
        conv, prelu = s[0], s[1]
        fan_in = conv.weight[0].numel()
        bound = math.sqrt(3 / fan_in)  # Caffe's xavier: U(-sqrt(3/fan_in), sqrt(3/fan_in))
        assert conv.weight.abs().max() <= bound
        assert abs(conv.weight.std().item() * math.sqrt(fan_in) - 1) < 0.15
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias)) and conv.bias.requires_grad
        assert prelu.weight.shape == (conv.out_channels,)
        assert torch.equal(prelu.weight, torch.full_like(prelu.weight, 0.25))
    unit_w = torch.cat([m.weight.flatten() for s in stages for u in s[2:]
                        for m in (u.conv1, u.conv2)])
    assert abs(unit_w.std().item() / 0.01 - 1) < 0.05 and abs(unit_w.mean().item()) < 1e-3
    for s in stages:
        for u in s[2:]:
            for m in (u.conv1, u.conv2):
                assert torch.equal(m.bias, torch.zeros_like(m.bias)) and not m.bias.requires_grad
    fc5 = body.fc5
    assert fc5.in_features == 128 * 7 * 6 and fc5.out_features == 32
    assert fc5.weight.abs().max() <= math.sqrt(3 / fc5.in_features)
    assert torch.equal(fc5.bias, torch.zeros(32))


def test_iresnet_init():
    net = net_of("iresnet18", args={"width": 8})
    convs = torch.cat([m.weight.flatten() for m in net.body.modules()
                       if isinstance(m, nn.Conv2d)])
    assert abs(convs.std().item() / 0.1 - 1) < 0.02
    feats = net.body.features
    assert isinstance(feats, nn.BatchNorm1d) and not feats.weight.requires_grad
    assert torch.equal(feats.weight, torch.ones(512)) and feats.bias.requires_grad


@pytest.mark.parametrize("name", ["sphereface20", "iresnet18"])
@pytest.mark.parametrize("all_params", [False, True])
def test_frozen_parameters_stay_fixed_under_sgd_with_weight_decay(name, all_params):
    torch.manual_seed(0)
    net = net_of(name, args={"width": 4, "embedding_size": 8})
    frozen = {n: p.detach().clone() for n, p in net.named_parameters() if not p.requires_grad}
    trained = {n: p.detach().clone() for n, p in net.named_parameters() if p.requires_grad}
    assert frozen and all(("conv" in n and n.endswith("bias")) or n == "body.features.weight"
                          for n in frozen)
    cfg = OptimizerConfig(lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt = (torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
           if all_params else build_optimizer(net, cfg))
    x = torch.rand(2, 3, *(SF_HW if name.startswith("sphere") else IR_HW))
    y = torch.tensor([0, 3])
    for _ in range(2):
        opt.zero_grad()
        loss, _ = net(x, y)
        loss.backward()
        opt.step()
    now = dict(net.named_parameters())
    for n, before in frozen.items():
        assert torch.equal(now[n], before), n
    if name == "iresnet18":
        assert torch.equal(now["body.features.weight"], torch.ones(8))
    moved = [n for n, before in trained.items() if not torch.equal(now[n], before)]
    assert len(moved) == len(trained)


def test_iresnet_head_is_float32_under_bf16_autocast():
    net = net_of("iresnet18", args={"width": 4, "embedding_size": 8}).eval()
    seen = {}

    def hook(name):
        return lambda m, i, o: seen.update({name: (i[0].dtype, o.dtype)})

    net.body.conv1.register_forward_hook(hook("conv1"))
    net.body.fc.register_forward_hook(hook("fc"))
    net.body.features.register_forward_hook(hook("features"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net.features(torch.rand(2, 3, 112, 112))
    assert seen["conv1"][1] == torch.bfloat16  # the trunk runs in autocast
    assert seen["fc"] == (torch.float32, torch.float32)
    assert seen["features"] == (torch.float32, torch.float32)
    assert out.dtype == torch.float32


# --- geometry, pixels, operators, errors ----------------------------------------------------

def test_insightface_crop_equals_slicing_columns_8_to_104():
    torch.manual_seed(0)
    crop = net_of("sphereface20", size=112, args={"width": 4, "crop": "insightface"}).eval()
    plain = net_of("sphereface20", args={"width": 4}).eval()
    plain.load_state_dict(crop.state_dict())
    x = torch.rand(2, 3, 112, 112)
    torch.testing.assert_close(crop.features(x), plain.features(x[..., 8:104]), rtol=0,
                               atol=1e-6)
    assert not torch.allclose(crop.features(x), plain.features(x[..., :96]), atol=1e-4)


@pytest.mark.parametrize(("name", "scale"), [("sphereface20", 128.0), ("iresnet18", 127.5)])
def test_the_network_imposes_its_pixel_normalization(name, scale):
    net = net_of(name, args={"width": 2}, mean=[0.485, 0.456, 0.406],
                 std=[0.229, 0.224, 0.225])  # the data's statistics: ignored
    x = torch.randint(0, 256, (2, 3, 8, 8)).float() / 255
    ref = (255 * x.double() - 127.5) / scale
    torch.testing.assert_close(net.normalize(x).double(), ref, rtol=0, atol=1e-6)
    gray = net_of(name, channels=1, args={"width": 2})
    assert gray.normalize.mean.shape == (1, 1, 1, 1)


def test_sphereconv_and_decoupled_operators_drop_in():
    torch.manual_seed(0)
    sf = net_of("sphereface20", args={"width": 4, "embedding_size": 8}, conv="sphere",
                linear="sphere")
    convs = [m for m in sf.body.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 20 and all(isinstance(m, SphereConv2d) for m in convs)
    assert isinstance(sf.body.fc5, SphereLinear)
    assert all(not m.bias.requires_grad for u in sf.body.stage3[2:] for m in (u.conv1, u.conv2))
    x = torch.rand(2, 3, 112, 96)
    loss, _ = sf(x, torch.tensor([0, 1]))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in sf.parameters() if p.requires_grad)
    ir = net_of("iresnet18", args={"width": 4, "embedding_size": 8}, conv="dc-tanh")
    convs = [m for m in ir.body.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 2 * 8 + 4 and all(isinstance(m, DecoupledConv2d) for m in convs)
    f = ir.eval().features(torch.rand(2, 3, 112, 112))
    assert f.shape == (2, 8) and torch.isfinite(f).all()


def test_sphereface_ignores_model_batchnorm():
    a = net_of("sphereface20", args={"width": 2}, batchnorm=True)
    b = net_of("sphereface20", args={"width": 2}, batchnorm=False)
    assert a.state_dict().keys() == b.state_dict().keys()


def _one_line_error(match: str, *args, **kw) -> str:
    with pytest.raises(HyperError, match=match) as exc:
        net_of(*args, **kw)
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_a_wrong_input_size_is_a_one_line_error_naming_the_fix():
    msg = _one_line_error("sphereface20 takes 112x96", "sphereface20", size=28)
    assert "the data gives 28x28" in msg and "data.image_size" in msg \
        and "model.args.crop=insightface" in msg
    msg = _one_line_error("with model.args.crop=insightface", "sphereface36", size=SF_HW,
                          args={"crop": "insightface"})
    assert "the data gives 112x96" in msg
    msg = _one_line_error("iresnet50 takes 112x112", "iresnet50", size=SF_HW)
    assert "data.image_size to 112" in msg
    _one_line_error("takes square images; the data gives 112x96", "resnet20", size=SF_HW)
    _one_line_error("crop", "sphereface20", args={"crop": "arcface"})
    _one_line_error("model.batchnorm: false", "iresnet18", batchnorm=False)


def test_listed_with_one_line_help():
    for name in [*SPHERE_UNITS, *IRESNET_BLOCKS]:
        text = MODELS.help(name)
        assert name in MODELS.names() and text and "\n" not in text
    assert "3/7/16/3" in MODELS.help("sphereface64")


# --- a streamed 112x96 dataset end to end ---------------------------------------------------

def write_faces(root, n: int, hw=SF_HW, classes: int = 2, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        a = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
        d = root / f"id{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a, "RGB").save(d / f"{i:03d}.png")
        arrays.append(a)
    return arrays


def test_train_sphereface20_on_a_streamed_112x96_folder(tmp_path):
    write_faces(tmp_path / "faces" / "train", 8)
    write_faces(tmp_path / "faces" / "val", 2, seed=1)
    recipe = build_recipe({
        "name": "faces-tiny", "seed": 0,
        "data": {"name": "folder", "root": str(tmp_path / "faces"), "workers": 0,
                 "batch_size": 4, "eval_batch_size": 4, "augment": ["flip"]},
        "model": {"name": "sphereface20", "args": {"width": 4, "embedding_size": 8}},
        "loss": {"name": "cosface", "args": {"s": 8.0}},
        "optimizer": {"lr": 0.01}, "schedule": {"name": "constant"},
        "train": {"epochs": 1, "device": "cpu"},
    })
    summary = train(recipe, out_dir=tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and math.isfinite(summary["test_loss"])
    state = read_checkpoint(tmp_path / "run")
    assert state["data"]["image_size"] == [112, 96]
    model, _ = load_checkpoint(tmp_path / "run")
    f = model.features(torch.rand(2, 3, 112, 96))
    assert f.shape == (2, 8) and torch.isfinite(f).all()
    torch.testing.assert_close(model.normalize.std.flatten(), torch.full((3,), 128 / 255))
