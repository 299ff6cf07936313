"""Angular fully-connected operators (``model.linear``): SphereConv and DCNet for nn.Linear.

A fully-connected layer is a convolution whose patch is the whole input vector, so
cos θ = <w, x> / (||w|| ||x||) with ||x|| = sqrt(Σ x² + 1e-4) over the last dimension::

    fc = SphereLinear(256, 128, angle="linear")
    y = fc(x)  # (B, 256) -> (B, 128), every value is 1 - 2θ/π
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.nn.angular import AngularMixin
from hypercli.nn.conv import DECOUPLED_ANGLES, SPHERE_ANGLES
from hypercli.nn.functional import check_choice, full_precision, normalize_weight, upcast
from hypercli.registry import LINEARS


class AngularLinear(nn.Linear, AngularMixin):
    """Base of the angular linear operators: <ŵ, x> by ``F.linear``, ||x|| over features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., D) -> (..., O)
        with full_precision(x.device.type):
            w_hat = normalize_weight(self.weight)  # (O, D), rows of unit norm
        raw = F.linear(x, w_hat)
        out_dtype = raw.dtype
        with full_precision(x.device.type):
            sq_sum = upcast(x).square().sum(-1, keepdim=True) if self.needs_input_norm else None
            y = self.combine(raw, sq_sum, (-1,))
            if self.bias is not None:
                y = y + self.bias
        return y.to(out_dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.angular_repr()}"


@LINEARS.register("sphere")
class SphereLinear(AngularLinear):
    """SphereConv as a fully-connected layer: g(θ) between each weight row and the input.

    ``angle`` as for ``SphereConv2d``: cosine (default), linear, sigmoid (k = 0.3),
    sigmoid_learnable (per-output k, init 0.7, used as |k| + 0.05), none (<w, x>/||w||).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None, angle: str = "cosine") -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self.angle = check_choice(angle, SPHERE_ANGLES, "SphereLinear angle")
        weight_only = angle == "none"
        self.init_angular(out_features, "cosine" if weight_only else angle,
                          "linear" if weight_only else "sphere", device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, angle={self.angle}"


@LINEARS.register("decoupled")
class DecoupledLinear(AngularLinear):
    """Decoupled fully-connected layer h(||x||) g(θ) (DCNet, CVPR 2018), per-output ρ.

    Arguments as ``DecoupledConv2d``: ``magnitude`` sphere | ball | tanh (default) | linear |
    seg, ``angle`` linear | cosine (default) | sqcosine, ``normalize`` (divide ||x|| by its
    running mean), ``tanh_form`` paper | code, ``norm_decay`` 0.999.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None, magnitude: str = "tanh",
                 angle: str = "cosine", normalize: bool = False, tanh_form: str = "paper",
                 norm_decay: float = 0.999) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        check_choice(angle, DECOUPLED_ANGLES, "decoupled angle")
        self.init_angular(out_features, angle, magnitude, normalize, tanh_form, norm_decay,
                          device=device, dtype=dtype)
