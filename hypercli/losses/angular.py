"""The math shared by the angular heads: cos θ to each class, ψ(θ) of SphereFace, the λ schedule.

Everything here runs in float32 (autocast off) and clamps cos θ to [-1, 1]; acos is only
taken of values kept strictly inside (-1, 1), so no gradient is ever inf or NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hypercli.errors import HyperError
from hypercli.nn.functional import full_precision, upcast

ACOS_EPS = 1e-7  # acos(clamp(cos, -1 + 1e-7, 1 - 1e-7)): |d acos| <= ~2000 in float32
NORM_EPS = 1e-12  # smallest feature norm divided by (as F.normalize)


def cosine(features: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos θ between each feature and each class weight, and the feature norms.

    (B, D), (C, D) -> cos (B, C) clamped to [-1, 1], ||x|| (B, 1). Float32, autocast off.
    """
    with full_precision(features.device.type):
        x = upcast(features)
        w_hat = F.normalize(upcast(weight), dim=1, eps=NORM_EPS)  # (C, D)
        norm = x.square().sum(1, keepdim=True).clamp_min(NORM_EPS**2).sqrt()  # (B, 1)
        cos = (x @ w_hat.t()) / norm  # (B, C)
        return cos.clamp(-1.0, 1.0), norm


def psi_sign(cos: torch.Tensor, m: int) -> torch.Tensor:
    """A-Softmax ψ(θ) = (-1)^k cos(mθ) - 2k from cos θ without acos (SphereFace's Caffe code).

    s0 = sign(cos θ); m=2: 2 s0 cos²θ - 1; m=3: s1 = sign(|cos θ| - ½), s2 = s0(1 + s1) - 2,
    s1(4cos³θ - 3cos θ) + s2; m=4: s3 = s0 sign(2cos²θ - 1), s4 = 2 s0 + s3 - 3,
    s3(8cos⁴θ - 8cos²θ + 1) + s4.
    """
    if m == 1:
        return cos
    c2 = cos * cos
    s0 = torch.sign(cos)
    if m == 2:
        return 2.0 * s0 * c2 - 1.0
    if m == 3:
        s1 = torch.sign(cos.abs() - 0.5)
        s2 = s0 * (1.0 + s1) - 2.0
        return s1 * (4.0 * c2 * cos - 3.0 * cos) + s2
    if m == 4:
        s3 = s0 * torch.sign(2.0 * c2 - 1.0)
        s4 = 2.0 * s0 + s3 - 3.0
        return s3 * (8.0 * c2 * c2 - 8.0 * c2 + 1.0) + s4
    raise HyperError(f"A-Softmax margin m must be 1, 2, 3 or 4, got {m}")


def psi_angle(theta: torch.Tensor, m: float) -> torch.Tensor:
    """ψ(θ) = (-1)^k cos(mθ) - 2k, k = floor(mθ/π), for any real m >= 1 (SphereFace Eq. 6)."""
    m_theta = m * theta
    k = torch.floor(m_theta / math.pi)
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)  # (-1)^k
    return sign * torch.cos(m_theta) - 2.0 * k


def safe_acos(cos: torch.Tensor) -> torch.Tensor:
    """θ = acos(cos θ) with cos kept inside (-1, 1), so dθ/dcos stays finite."""
    return torch.acos(cos.clamp(-1.0 + ACOS_EPS, 1.0 - ACOS_EPS))


def annealed_lambda(iteration: torch.Tensor, base: float, gamma: float, power: float,
                    lambda_min: float) -> torch.Tensor:
    """λ = max(λ_min, base · (1 + γ · iter)^(-power)) (SphereFace / L-Softmax Caffe layers)."""
    it = iteration.to(torch.float64)
    return torch.clamp_min(base * torch.pow(1.0 + gamma * it, -power), lambda_min)


def replace_target(logits: torch.Tensor, labels: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
    """``logits`` (B, C) with column ``labels[i]`` of row i replaced by ``target`` (B, 1)."""
    return logits.scatter(1, labels.view(-1, 1), target)
