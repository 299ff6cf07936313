"""Norms, angles and magnitudes of the hyperspherical operators (SphereNet, DCNet), in float32.

Shared by the convolution and linear operators. The norms follow the authors' code:
``||w|| = sqrt(sum w^2 + 1e-4)`` per filter and ``||x|| = sqrt(sum_patch x^2 + 1e-4)`` per
output position (Liu et al., "Deep Hyperspherical Learning", NIPS 2017, Sec. 2;
"Decoupled Networks", CVPR 2018, Sec. 3). All angle math runs in float32 with autocast off,
so bf16/fp16 training never sees an acos of 1.0001 or a squared activation that overflows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from hypercli.errors import HyperError

EPS = 1e-4  # added under every square root, as in the authors' code
ACOS_EPS = 1e-6  # cos is clamped to [-1 + ACOS_EPS, 1 - ACOS_EPS] before acos

ANGLES = ("cosine", "linear", "sigmoid", "sigmoid_learnable", "sqcosine", "none")
MAGNITUDES = ("sphere", "ball", "tanh", "linear", "seg")
SIGMOID_K = 0.3  # SphereNet's fixed sigmoid steepness
LEARNABLE_K_INIT = 0.7  # SphereNet's learnable sigmoid: k initialized 0.7, used as |k| + 0.05
LEARNABLE_K_MIN = 0.05


@contextmanager
def full_precision(device_type: str) -> Iterator[None]:
    """Run the enclosed ops in float32: autocast off (no-op when autocast is not active)."""
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type=device_type, enabled=False):
            yield
    else:
        yield


def upcast(t: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32; float32 and float64 stay as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise HyperError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
    return value


class _NormalizeRows(torch.autograd.Function):
    """ŵ = w / sqrt(Σw² + eps) per row; backward inv (g - ŵ Σ(g ŵ)) in three passes."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor) -> torch.Tensor:  # (O, D) -> (O, D)
        inv = torch.linalg.vecdot(w, w).add_(EPS).rsqrt_().unsqueeze(1)  # (O, 1)
        w_hat = w * inv
        ctx.save_for_backward(w_hat, inv)
        return w_hat

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        w_hat, inv = ctx.saved_tensors
        proj = torch.linalg.vecdot(grad, w_hat).unsqueeze(1)  # (O, 1)
        return torch.addcmul(grad, w_hat, proj, value=-1.0).mul_(inv)


def normalize_weight(weight: torch.Tensor) -> torch.Tensor:
    """Each filter (row of dim 0) divided by ``sqrt(sum w^2 + 1e-4)``; at least float32."""
    w = upcast(weight)
    return _NormalizeRows.apply(w.reshape(w.shape[0], -1)).view(w.shape)


def _box_path(kernel_size: tuple[int, int], padding: tuple[int, int],
              dilation: tuple[int, int]) -> str:
    kh, kw = kernel_size
    if kh == 1 and kw == 1 and padding == (0, 0):
        return "subsample"
    if dilation == (1, 1) and 2 * padding[0] <= kh and 2 * padding[1] <= kw:
        return "pool"  # avg_pool2d counting the zero padding = box sum / (kh kw)
    return "conv"


def box_sum(s: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
    """Sum of ``s`` (B, G, H, W) over every window of a conv's geometry -> (B, G, H', W')."""
    path = _box_path(kernel_size, padding, dilation)
    if path == "subsample":
        return s[:, :, :: stride[0], :: stride[1]]
    if path == "pool":
        pooled = F.avg_pool2d(s, kernel_size, stride, padding, ceil_mode=False,
                              count_include_pad=True)
        return pooled * float(kernel_size[0] * kernel_size[1])
    g = s.shape[1]
    ones = s.new_ones(g, 1, *kernel_size)
    return F.conv2d(s, ones, None, stride, padding, dilation, g)


def box_sum_transpose(grad: torch.Tensor, in_shape: torch.Size, kernel_size: tuple[int, int],
                      stride: tuple[int, int], padding: tuple[int, int],
                      dilation: tuple[int, int]) -> torch.Tensor:
    """The adjoint of :func:`box_sum`: (B, G, H', W') -> (B, G, H, W)."""
    path = _box_path(kernel_size, padding, dilation)
    if path == "subsample":
        out = grad.new_zeros(in_shape)
        out[:, :, :: stride[0], :: stride[1]] = grad
        return out
    if path == "pool":
        out = torch.ops.aten.avg_pool2d_backward(
            grad, grad.new_empty(in_shape), list(kernel_size), list(stride), list(padding),
            False, True, None)
        return out * float(kernel_size[0] * kernel_size[1])
    g = in_shape[1]
    ones = grad.new_ones(g, 1, *kernel_size)
    return torch.nn.grad.conv2d_input(in_shape, ones, grad, stride, padding, dilation, g)


def channel_sq_sum(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Σ x² over the channels of each group: (B, C, H, W) -> (B, G, H, W), at least float32."""
    b, c, h, w = x.shape
    x2 = upcast(x).square()
    if groups == 1:
        return x2.sum(1, keepdim=True)
    return x2.view(b, groups, c // groups, h, w).sum(2)


def patch_sq_sum(x: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int], dilation: tuple[int, int],
                 groups: int) -> torch.Tensor:
    """Sum of x^2 over every patch a grouped conv sees: (B, C, H, W) -> (B, G, H', W').

    Summing over the channels of each group first and then box-filtering with the conv's own
    stride, padding and dilation is exactly ``conv2d(x^2, ones)`` at 1/C of the cost.
    ``x`` must already carry any non-zero padding mode and asymmetric 'same' padding.
    """
    return box_sum(channel_sq_sum(x, groups), kernel_size, stride, padding, dilation)


def inverse_norm(sq_sum: torch.Tensor) -> torch.Tensor:
    """``1 / sqrt(sq_sum + 1e-4)`` (the reciprocal input norm)."""
    return (sq_sum + EPS).rsqrt()


def sigmoid_angle(theta: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
    """SphereNet's sigmoid SphereConv, g(θ) = C (1 - e^(θ/k - π/2k)) / (1 + e^(θ/k - π/2k)).

    With C = (1 + e^(-π/2k)) / (1 - e^(-π/2k)) = coth(π/4k) and (1-e^z)/(1+e^z) = -tanh(z/2)
    this is tanh((π/2 - θ) / 2k) / tanh(π/4k): the same function without overflow.
    """
    if isinstance(k, torch.Tensor):
        return torch.tanh((math.pi / 2 - theta) / (2 * k)) / torch.tanh(math.pi / (4 * k))
    return torch.tanh((math.pi / 2 - theta) / (2 * k)) / math.tanh(math.pi / (4 * k))


class _LinearAngle(torch.autograd.Function):
    """g = 1 - 2θ/π, θ = acos(cos) with cos clamped; backward (2/π)/sqrt(1 - cos²) in 3 passes."""

    @staticmethod
    def forward(ctx: Any, cos: torch.Tensor) -> torch.Tensor:
        c = cos.clamp(-1.0 + ACOS_EPS, 1.0 - ACOS_EPS)
        ctx.save_for_backward(c)
        return torch.acos(c).mul_(-2.0 / math.pi).add_(1.0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (c,) = ctx.saved_tensors
        q = math.pi**2 / 4.0  # (2/π) / sqrt(1 - c²) = 1 / sqrt((1 - c²) π²/4)
        return torch.addcmul(torch.full((), q, dtype=c.dtype, device=c.device), c, c,
                             value=-q).rsqrt_().mul_(grad)


class _SigmoidAngle(torch.autograd.Function):
    """SphereNet's sigmoid g(θ) for a fixed k, with its derivative from the saved output."""

    @staticmethod
    def forward(ctx: Any, cos: torch.Tensor, k: float) -> torch.Tensor:
        c = cos.clamp(-1.0 + ACOS_EPS, 1.0 - ACOS_EPS)
        t = torch.acos(c).mul_(-0.5 / k).add_(math.pi / (4 * k)).tanh_()  # tanh((π/2-θ)/2k)
        scale = math.tanh(math.pi / (4 * k))
        ctx.save_for_backward(c, t)
        ctx.factor = 1.0 / (2 * k * scale)
        return t / scale

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        c, t = ctx.saved_tensors
        # dg/dcos = (1 - t²) / (2 k tanh(π/4k)) / sqrt(1 - cos²)
        one = torch.ones((), dtype=c.dtype, device=c.device)
        inv_sin = torch.addcmul(one, c, c, value=-1.0).rsqrt_()
        return torch.addcmul(one, t, t, value=-1.0).mul_(inv_sin).mul_(grad).mul_(
            ctx.factor), None


def angle_function(cos: torch.Tensor, angle: str,
                   k: torch.Tensor | None = None) -> torch.Tensor:
    """g(θ) from cos θ (float32). ``k``: per-filter steepness for ``sigmoid_learnable``.

    cosine: cos θ;  linear: 1 - 2θ/π;  sigmoid: see :func:`sigmoid_angle` (k = 0.3);
    sigmoid_learnable: the same with k = |k| + 0.05;  sqcosine: sign(cos θ) cos²θ (DCNet).
    cos θ is clamped to [-1 + 1e-6, 1 - 1e-6] before acos, so every derivative is finite.
    """
    if angle == "cosine":
        return cos
    if angle == "sqcosine":
        return cos * cos.abs()
    if angle == "linear":
        return _LinearAngle.apply(cos)
    if angle == "sigmoid":
        return _SigmoidAngle.apply(cos, SIGMOID_K)
    if angle == "sigmoid_learnable":
        assert k is not None
        theta = torch.acos(cos.clamp(-1.0 + ACOS_EPS, 1.0 - ACOS_EPS))
        return sigmoid_angle(theta, upcast(k).abs() + LEARNABLE_K_MIN)
    raise ValueError(f"angle {angle!r} has no g(θ)")


def magnitude_function(norm: torch.Tensor, magnitude: str, rho: torch.Tensor | None,
                       tanh_form: str = "paper") -> torch.Tensor:
    """DCNet's h(||x||) for an input norm ``norm`` and per-channel radius ``rho`` (float32).

    sphere: 1;  ball: min(||x||, ρ)/ρ;  tanh: ρ tanh(||x||/ρ) (paper) or tanh(||x||/ρ) (code);
    linear: ||x||;  seg: ||x|| if ||x|| < ρ else (||x|| + ρ)/2.
    """
    if magnitude == "sphere":
        return torch.ones_like(norm)
    if magnitude == "linear":
        return norm
    assert rho is not None
    if magnitude == "ball":
        return torch.minimum(norm, rho) / rho
    if magnitude == "tanh":
        t = torch.tanh(norm / rho)
        return rho * t if tanh_form == "paper" else t
    if magnitude == "seg":
        return torch.where(norm < rho, norm, 0.5 * (norm + rho))
    raise ValueError(f"magnitude {magnitude!r} has no h(||x||)")
