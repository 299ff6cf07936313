"""cos θ between every filter and every patch, and the patch norms, with a hand-written backward.

Autograd through ``conv(x, ŵ) / sqrt(box(Σ_c x²) + 1e-4)`` stores and revisits several
full-size intermediates; this Function keeps only x, ŵ, cos θ and 1/||x|| and spends one
extra pass over the output and one over the input in backward, which is what brings a
SphereConv training step close to a plain convolution's (see benchmarks/ops.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from hypercli.nn.functional import EPS, box_sum, box_sum_transpose, channel_sq_sum, upcast

Geometry = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], int]


class PatchCosine(torch.autograd.Function):
    """(x (B, C, H, W), ŵ (O, C/G, kh, kw), geometry) -> cos θ (B, O, H', W'), ||x|| (B, G, H', W').

    ``geometry`` = (kernel_size, stride, padding, dilation, groups) with numeric padding
    (any padding mode or asymmetric 'same' padding already applied to x). The convolution
    runs in x's dtype; cos θ and ||x|| are float32 (float64 for float64 inputs).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w_hat: torch.Tensor,
                geometry: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
        ksize, stride, padding, dilation, groups = geometry
        raw = F.conv2d(x, w_hat, None, stride, padding, dilation, groups)  # (B, O, H', W')
        s = box_sum(channel_sq_sum(x, groups), ksize, stride, padding, dilation)  # (B, G, ..)
        inv = (s + EPS).rsqrt()
        b, o, h, w = raw.shape
        raw = upcast(raw)  # a fresh tensor of ours: scale it in place (no second allocation)
        if groups == 1:
            cos = raw.mul_(inv)
        else:
            cos = raw.view(b, groups, o // groups, h, w).mul_(inv.unsqueeze(2)).view(b, o, h, w)
        ctx.save_for_backward(x, w_hat, cos, inv)
        ctx.geometry = geometry
        ctx.set_materialize_grads(False)
        return cos, (s + EPS) * inv  # sqrt(s + eps) without a second root

    @staticmethod
    def backward(ctx: Any, g_cos: torch.Tensor | None,
                 g_norm: torch.Tensor | None) -> tuple[Any, ...]:
        x, w_hat, cos, inv = ctx.saved_tensors
        ksize, stride, padding, dilation, groups = ctx.geometry
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        g_x = g_w = g_s = None
        if g_cos is not None:
            b, o, h, w = g_cos.shape
            gc = g_cos.view(b, groups, o // groups, h, w)
            cs = cos.view(b, groups, o // groups, h, w)
            # cos = raw * inv, inv = (s + eps)^(-1/2): dL/ds = -inv^2 / 2 * Σ_o g_cos * cos
            buf = torch.mul(gc, cs)
            g_s = buf.sum(2).mul_(inv.square()).mul_(-0.5)
            g_raw = torch.mul(gc, inv.unsqueeze(2), out=buf).view(b, o, h, w).to(x.dtype)
            g_x, g_w, _ = torch.ops.aten.convolution_backward(
                g_raw, x, w_hat, None, list(stride), list(padding), list(dilation), False,
                [0, 0], groups, [need_x, need_w, False])
        if g_norm is not None:  # norm = sqrt(s + eps): dL/ds = inv / 2 * g_norm
            part = 0.5 * inv * g_norm
            g_s = part if g_s is None else g_s + part
        if need_x and g_s is not None:
            g_sum = box_sum_transpose(g_s, torch.Size((x.shape[0], groups, *x.shape[2:])),
                                      ksize, stride, padding, dilation)  # (B, G, H, W)
            if groups == 1:
                g_sum = g_sum.to(x.dtype)
                g_x = 2.0 * x * g_sum if g_x is None else g_x.addcmul_(x, g_sum, value=2.0)
            else:
                b, c, h, w = x.shape
                part = (2.0 * upcast(x).view(b, groups, c // groups, h, w)
                        * g_sum.unsqueeze(2)).view(b, c, h, w).to(x.dtype)
                g_x = part if g_x is None else g_x + part
        return g_x, g_w, None
