"""Margin heads against closed forms, per-sample float64 loops and pytorch-metric-learning."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml

from hypercli.errors import HyperError
from hypercli.losses import ArcFace, ASoftmax, CosFace, LSoftmax, NormSoftmax, SphereFaceR
from hypercli.losses.angular import psi_angle, psi_sign
from hypercli.registry import HEADS

D = torch.float64


def batch(n=12, d=5, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=D) * 3
    y = torch.randint(0, c, (n,), generator=g)
    return x, y


def psi_k(theta: float, m: int) -> float:
    k = math.floor(m * theta / math.pi)
    return (-1) ** k * math.cos(m * theta) - 2 * k


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_psi_sign_form_equals_k_form(m):
    theta = torch.cat([torch.linspace(0, math.pi, 2001, dtype=D),
                       torch.tensor([math.pi * j / m for j in range(m + 1)], dtype=D),
                       torch.tensor([math.pi / 3, 2 * math.pi / 3, math.pi / 4, 3 * math.pi / 4],
                                    dtype=D)])
    sign_form = psi_sign(torch.cos(theta), m)
    loop = torch.tensor([psi_k(float(t), m) for t in theta], dtype=D)
    assert (sign_form - loop).abs().max() < 1e-9
    torch.testing.assert_close(psi_angle(theta, m), loop)


def test_lambda_schedule_and_checkpoint():
    head = ASoftmax(4, 3)
    x, y = batch(d=4, c=3)
    assert head.logs()["lambda"] == 1000.0  # iteration 0
    head.iteration.fill_(1657)
    head(x.float(), y)  # iteration 1658
    assert math.isclose(head.logs()["lambda"], 1000 / (1 + 0.12 * 1658))
    assert head.logs()["lambda"] > 5
    head(x.float(), y)  # iteration 1659: 1000/200.08 < 5, clamped
    assert head.logs()["lambda"] == 5.0
    head.eval()
    head(x.float(), y)
    assert int(head.iteration) == 1659  # eval does not advance the schedule
    fresh = ASoftmax(4, 3)
    fresh.load_state_dict(head.state_dict())
    assert int(fresh.iteration) == 1659 and fresh.logs()["lambda"] == 5.0
    port = ASoftmax(4, 3, base=1500, gamma=0.1)
    port.iteration.fill_(99)
    assert math.isclose(port.logs()["lambda"], max(5, 1500 / (1 + 0.1 * 99)))
    with pytest.raises(HyperError, match="margin m"):
        ASoftmax(4, 3, m=5)


def a_softmax_loop(x, y, w, m, lam, normalize_w=True):
    """Per-sample A-Softmax / L-Softmax loss with acos and k, float64."""
    total = 0.0
    for i in range(len(x)):
        xn = float(x[i].norm())
        logits = []
        for j in range(w.shape[0]):
            wn = float(w[j].norm())
            cos = float(x[i] @ w[j]) / (xn * wn)
            scale = xn if normalize_w else xn * wn
            if j == int(y[i]):
                theta = math.acos(max(-1.0, min(1.0, cos)))
                logits.append(scale * (psi_k(theta, m) + lam * cos) / (1 + lam))
            else:
                logits.append(scale * cos)
        logits = torch.tensor(logits, dtype=D)
        total += float(torch.logsumexp(logits, 0) - logits[int(y[i])])
    return total / len(x)


@pytest.mark.parametrize("cls", [ASoftmax, LSoftmax])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_multiplicative_margin_matches_loop(cls, m):
    head = cls(5, 4, m=m).double()
    x, y = batch()
    head.iteration.fill_(9)
    loss = head(x, y)  # trains at iteration 10
    lam = float(head.current_lambda())
    expected = a_softmax_loop(x, y, head.weight.detach(), m, lam, cls is ASoftmax)
    assert math.isclose(float(loss.detach()), expected, rel_tol=1e-9)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_asoftmax_and_lsoftmax_match_pml_without_annealing(m):
    x, y = batch()
    for cls, peer in ((ASoftmax, pml.SphereFaceLoss), (LSoftmax, pml.LargeMarginSoftmaxLoss)):
        head = cls(5, 4, m=m, base=0.0, lambda_min=0.0).double()
        ref = peer(num_classes=4, embedding_size=5, margin=m, scale=1)
        ref.W.data = head.weight.detach().t().clone()
        torch.testing.assert_close(head(x, y), ref(x, y))


def test_cosface_arcface_normsoftmax_match_pml():
    x, y = batch(n=64, c=4)
    x = x * 0.2
    cases = [
        (CosFace(5, 4, s=64, m=0.35), pml.CosFaceLoss(4, 5, margin=0.35, scale=64)),
        (CosFace(5, 4, s=30, m=0.2), pml.CosFaceLoss(4, 5, margin=0.2, scale=30)),
        (ArcFace(5, 4, s=64, m=0.5), pml.ArcFaceLoss(4, 5, margin=math.degrees(0.5), scale=64)),
        (ArcFace(5, 4, s=10, m=2.5), pml.ArcFaceLoss(4, 5, margin=math.degrees(2.5), scale=10)),
        (NormSoftmax(5, 4, s=20), pml.NormalizedSoftmaxLoss(4, 5, temperature=0.05)),
    ]
    for head, ref in cases:
        head = head.double()
        ref.W.data = head.weight.detach().t().clone()
        torch.testing.assert_close(head(x, y), ref(x, y))


def test_arcface_fallback_beyond_pi():
    head = ArcFace(2, 2, s=1.0, m=0.5).double()
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=D))
    for theta in (0.3, 2.5, 2.9, math.pi):  # 2.9 + 0.5 > π: cos θ - m sin m
        x = torch.tensor([[math.cos(theta), math.sin(theta)]], dtype=D)
        logit = head.margin_logits(x, torch.tensor([0]))[0, 0]
        expected = math.cos(theta + 0.5) if theta + 0.5 <= math.pi \
            else math.cos(theta) - 0.5 * math.sin(0.5)
        assert math.isclose(float(logit.detach()), expected, abs_tol=1e-6)


def test_sphereface_r_value_and_detached_gradient():
    head = SphereFaceR(5, 4, s=30, m=1.7).double()
    x, y = batch()
    x.requires_grad_(True)
    logits = head.margin_logits(x, y)
    w = F.normalize(head.weight.detach(), dim=1)
    cos = F.normalize(x.detach(), dim=1) @ w.t()
    for i in range(len(x)):
        j = int(y[i])
        theta = math.acos(float(cos[i, j]))
        k = math.floor(1.7 * theta / math.pi)
        expected = 30 * ((-1) ** k * math.cos(1.7 * theta) - 2 * k)
        assert math.isclose(float(logits[i, j]), expected, rel_tol=1e-9, abs_tol=1e-9)
    # the gradient is that of s cos θ_y: the margin term is a constant
    (logits.gather(1, y.view(-1, 1)).sum()).backward()
    g1 = x.grad.clone()
    x.grad = None
    (30 * head.logits(x).gather(1, y.view(-1, 1)).sum() / 30).backward()
    torch.testing.assert_close(g1, x.grad)


HEAD_NAMES = HEADS.names()


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_every_head_gradcheck(name):
    torch.manual_seed(0)
    head = HEADS.create(name, 4, 3).double()
    x, y = batch(n=6, d=4, c=3)
    names = [n for n, _ in head.named_parameters()]
    head.eval()  # a fixed lambda while gradcheck calls it many times

    def f(x, *params):
        return torch.func.functional_call(head, dict(zip(names, params, strict=True)), (x, y))

    params = [p.detach().clone().requires_grad_(True) for p in head.parameters()]
    x.requires_grad_(True)
    if getattr(head, "exact_gradient", True):  # SphereFace-R detaches its margin on purpose
        assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(head.logits, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_every_head_is_safe_at_the_edges(name):
    """cos θ = ±1 (features on or opposite a class weight), zero features, bf16 autocast."""
    torch.manual_seed(0)
    head = HEADS.create(name, 4, 3)
    w = head.weight.detach()
    x = torch.stack([w[0] * 3, -w[1] * 2, torch.zeros(4), w[2] * 1e-8])
    y = torch.tensor([0, 1, 2, 2])
    x.requires_grad_(True)
    loss = head(x, y)
    loss.backward()
    assert torch.isfinite(loss), loss
    assert torch.isfinite(x.grad).all() and torch.isfinite(head.weight.grad).all()
    logits = head.logits(x)
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()
    assert all(isinstance(v, float) for v in head.logs().values())
    xb, yb = batch(n=16, d=4, c=3)
    xb = xb.float()
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = float(head(xb, yb))
        full = float(head(xb, yb))
    assert math.isfinite(low) and abs(low - full) < 0.1 * (1 + full)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_margin_never_lowers_the_loss(name):
    head = HEADS.create(name, 5, 4, label_smoothing=0.0).double()
    x, y = batch(n=32)
    head.eval()
    plain = F.cross_entropy(head.logits(x), y)
    assert float(head(x, y).detach()) >= float(plain) - 1e-9
