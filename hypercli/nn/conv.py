"""Convolution operators, registered by name for recipes (``model.conv``): SphereConv, DCNet ops.

Each is an ``nn.Conv2d`` with the same signature (plus its own keywords) that overrides
``forward`` only, so it drops into any model built from ``nn.Conv2d``::

    conv = SphereConv2d(64, 128, 3, padding=1, bias=False, angle="linear")
    y = conv(x)  # (B, 128, H, W), every value is g(θ) in [-1, 1]
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.common_types import _size_2_t

from hypercli.nn.angular import AngularMixin
from hypercli.nn.functional import check_choice, full_precision, normalize_weight, upcast
from hypercli.nn.patch_cosine import PatchCosine
from hypercli.registry import CONVS, LINEARS

CONVS.register("conv", help="plain nn.Conv2d: <w, x> + b (the baseline)")(nn.Conv2d)
LINEARS.register("linear", help="plain nn.Linear: <w, x> + b (the baseline)")(nn.Linear)

SPHERE_ANGLES = ("cosine", "linear", "sigmoid", "sigmoid_learnable", "none")
DECOUPLED_ANGLES = ("linear", "cosine", "sqcosine")


class AngularConv2d(nn.Conv2d, AngularMixin):
    """Base of the angular convolutions: <ŵ, x> by ``F.conv2d``, ||x|| by one box filter.

    The patch norm ||x|| = sqrt(Σ_patch x² + 1e-4) is exact for any stride, padding (also
    'same' and non-zero padding modes), dilation and groups: x² is summed over each group's
    channels, then box-filtered with the conv's own geometry (``patch_sq_sum``).
    """

    def _conv_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """x with any non-zero padding mode or asymmetric 'same' padding applied, and the
        numeric padding left for the convolution."""
        if self.padding_mode != "zeros":
            return F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode), (0, 0)
        if self.padding == "valid":
            return x, (0, 0)
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
            if all(t % 2 == 0 for t in totals):
                return x, (totals[0] // 2, totals[1] // 2)
            pads = [totals[1] // 2, totals[1] - totals[1] // 2,
                    totals[0] // 2, totals[0] - totals[0] // 2]
            return F.pad(x, pads), (0, 0)
        return x, self.padding  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, O, H', W')
        x, padding = self._conv_inputs(x)
        device = x.device.type
        with full_precision(device):
            w_hat = normalize_weight(self.weight)  # (O, C/G, kh, kw), rows of unit norm
        if torch.is_autocast_enabled(device):  # the conv in the autocast dtype, the rest fp32
            low = torch.get_autocast_dtype(device)
            x, w_hat = x.to(low), w_hat.to(low)
        else:
            w_hat = w_hat.to(x.dtype)
        with full_precision(device):
            if not self.needs_input_norm:  # ||x|| cos θ = <ŵ, x>
                y = upcast(F.conv2d(x, w_hat, None, self.stride, padding, self.dilation,
                                    self.groups))
            else:
                geometry = (self.kernel_size, self.stride, padding, self.dilation, self.groups)
                cos, norm = PatchCosine.apply(x, w_hat, geometry)  # (B, O, H', W'), (B, G, ..)
                if self.groups > 1 and self.magnitude != "sphere":
                    norm = norm.repeat_interleave(self.out_channels // self.groups, dim=1)
                y = self.activate(cos, norm, (1, -1, 1, 1))
            if self.bias is not None:
                y = y + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.angular_repr()}"


@CONVS.register("sphere")
class SphereConv2d(AngularConv2d):
    """SphereConv: g(θ) of the angle between filter and patch (SphereNet, NIPS 2017, Sec. 2.2).

    cos θ = <w, x> / (||w|| ||x||), ||w|| = sqrt(Σw² + 1e-4), ||x|| = sqrt(Σ_patch x² + 1e-4).
    ``angle``: ``cosine`` g = cos θ (default); ``linear`` g = 1 - 2θ/π; ``sigmoid``
    g = C(1 - e^(θ/k - π/2k)) / (1 + e^(θ/k - π/2k)), k = 0.3, C = (1 + e^(-π/2k)) /
    (1 - e^(-π/2k)); ``sigmoid_learnable`` the same with a per-filter k (init 0.7, used as
    |k| + 0.05); ``none`` weight normalization only, <w, x> / ||w||. Output in [-1, 1]
    (plus the bias, if any).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _size_2_t,
                 stride: _size_2_t = 1, padding: _size_2_t | str = 0, dilation: _size_2_t = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, angle: str = "cosine") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        self.angle = check_choice(angle, SPHERE_ANGLES, "SphereConv angle")
        weight_only = angle == "none"  # <ŵ, x> = ||x|| cos θ: the linear magnitude, cosine angle
        self.init_angular(out_channels, "cosine" if weight_only else angle,
                          "linear" if weight_only else "sphere", device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"{nn.Conv2d.extra_repr(self)}, angle={self.angle}"


@CONVS.register("decoupled")
class DecoupledConv2d(AngularConv2d):
    """Decoupled convolution f = h(||w||, ||x||) g(θ) (DCNet, CVPR 2018, Eq. 2 and Sec. 3).

    ``magnitude`` h: ``sphere`` 1; ``ball`` min(||x||, ρ)/ρ; ``tanh`` ρ tanh(||x||/ρ)
    (``tanh_form="paper"``, default) or tanh(||x||/ρ) (``"code"``, the authors' code);
    ``linear`` ||x||; ``seg`` ||x|| below ρ, (||x|| + ρ)/2 above. ρ = r² + 1e-4 is learned
    per output channel, r initialized 1. ``angle`` g: ``linear`` 1 - 2θ/π, ``cosine`` cos θ
    (default), ``sqcosine`` sign(cos θ) cos²θ. ``normalize=True`` divides ||x|| by its
    running mean E||x|| (batch mean in training, EMA with decay ``norm_decay`` 0.999 in
    eval), as the authors' code does for ball, tanh and seg (for seg their code multiplies
    h back by E||x||, a per-layer constant).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _size_2_t,
                 stride: _size_2_t = 1, padding: _size_2_t | str = 0, dilation: _size_2_t = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, magnitude: str = "tanh",
                 angle: str = "cosine", normalize: bool = False, tanh_form: str = "paper",
                 norm_decay: float = 0.999) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        check_choice(angle, DECOUPLED_ANGLES, "decoupled angle")
        self.init_angular(out_channels, angle, magnitude, normalize, tanh_form, norm_decay,
                          device=device, dtype=dtype)


def _named_decoupled(name: str, magnitude: str, doc: str) -> type[DecoupledConv2d]:
    """A registered DecoupledConv2d with ``magnitude`` fixed (``dc-ball``, ``dc-tanh``...)."""

    def __init__(self: DecoupledConv2d, in_channels: int, out_channels: int,
                 kernel_size: _size_2_t, stride: _size_2_t = 1, padding: _size_2_t | str = 0,
                 dilation: _size_2_t = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
                 angle: str = "cosine", normalize: bool = False, tanh_form: str = "paper",
                 norm_decay: float = 0.999) -> None:
        DecoupledConv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                                 dilation, groups, bias, padding_mode, device, dtype,
                                 magnitude=magnitude, angle=angle, normalize=normalize,
                                 tanh_form=tanh_form, norm_decay=norm_decay)

    cls_name = "".join(p.capitalize() for p in magnitude.split("-")) + "Conv2d"
    cls = type(cls_name, (DecoupledConv2d,), {"__init__": __init__, "__doc__": doc,
                                             "__module__": __name__})
    return CONVS.register(name)(cls)


BallConv2d = _named_decoupled(
    "dc-ball", "ball", "BallConv (DCNet): h = min(||x||, ρ)/ρ, bounded; g = cos θ by default.")
TanhConv2d = _named_decoupled(
    "dc-tanh", "tanh",
    "TanhConv (DCNet): h = ρ tanh(||x||/ρ) (paper; tanh_form=code drops ρ·); g = cos θ.")
LinearConv2d = _named_decoupled(
    "dc-linear", "linear", "LinearConv (DCNet): h = ||x||, unbounded; g = cos θ by default.")
SegConv2d = _named_decoupled(
    "dc-seg", "seg", "SegConv (DCNet): h = ||x|| below ρ, (||x|| + ρ)/2 above; g = cos θ.")
