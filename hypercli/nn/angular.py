"""The part every hyperspherical operator shares: f(w, x) = h(||x||) · g(θ) from <ŵ, x> and ||x||.

A conv or linear operator computes ``raw = <w / ||w||, x>`` with the torch primitive and the
sum of squares of what each output sees, then :meth:`AngularMixin.combine` turns them into
the decoupled output of DCNet (Liu et al., "Decoupled Networks", CVPR 2018, Eq. 2):
cos θ = raw / ||x||, then h(||x||) · g(θ). SphereConv (Liu et al., NIPS 2017) is h = 1.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hypercli.nn.functional import (
    ANGLES,
    EPS,
    LEARNABLE_K_INIT,
    MAGNITUDES,
    angle_function,
    check_choice,
    inverse_norm,
    magnitude_function,
    upcast,
)

_HAS_RADIUS = ("ball", "tanh", "seg")


class AngularMixin:
    """Parameters (per-filter k, per-channel radius r) and the output math of an operator.

    Attributes set by :meth:`init_angular`: ``angle_fn`` (g), ``magnitude`` (h),
    ``normalize`` (divide ||x|| by its running mean, as DCNet's code does), ``tanh_form``.
    """

    angle_fn: str
    magnitude: str
    normalize: bool
    tanh_form: str
    norm_decay: float
    k: nn.Parameter | None
    r: nn.Parameter | None

    def init_angular(self, channels: int, angle: str, magnitude: str, normalize: bool = False,
                     tanh_form: str = "paper", norm_decay: float = 0.999,
                     device: Any = None, dtype: Any = None) -> None:
        module: nn.Module = self  # type: ignore[assignment]
        self.angle_fn = check_choice(angle, ANGLES[:-1], "angle")
        self.magnitude = check_choice(magnitude, MAGNITUDES, "magnitude")
        self.tanh_form = check_choice(tanh_form, ("paper", "code"), "tanh_form")
        self.normalize = bool(normalize)
        if not 0.0 <= norm_decay < 1.0:
            raise ValueError(f"norm_decay must lie in [0, 1), got {norm_decay}")
        self.norm_decay = float(norm_decay)
        fk = {"device": device, "dtype": dtype}
        if angle == "sigmoid_learnable":  # SphereNet: per-filter k, init 0.7, used as |k| + 0.05
            module.k = nn.Parameter(torch.full((channels,), LEARNABLE_K_INIT, **fk))
        else:
            module.register_parameter("k", None)
        if magnitude in _HAS_RADIUS:  # DCNet: rho = r^2 + 1e-4 per channel, r init 1
            module.r = nn.Parameter(torch.ones(channels, **fk))
        else:
            module.register_parameter("r", None)
        if self.normalize:
            module.register_buffer("running_norm", torch.zeros((), **fk))
            module.register_buffer("norm_updates", torch.zeros((), dtype=torch.long, device=device))

    @property
    def needs_input_norm(self) -> bool:
        """False only for ||x|| cos θ = <ŵ, x>, which the weight-normalized conv already is."""
        return not (self.magnitude == "linear" and self.angle_fn == "cosine"
                    and not self.normalize)

    def rho(self) -> torch.Tensor:
        """The per-channel radius ρ = r² + 1e-4, shape (O,)."""
        assert self.r is not None
        return upcast(self.r).square() + EPS

    def mean_norm(self, norm: torch.Tensor) -> torch.Tensor:
        """E||x||: the batch mean in training (EMA-tracked), the debiased EMA in eval.

        As DCNet's code: a scalar per layer, decay 0.999, zero-debiased like TensorFlow's
        ``ExponentialMovingAverage`` on a tensor.
        """
        module: nn.Module = self  # type: ignore[assignment]
        running: torch.Tensor = module.running_norm  # type: ignore[assignment]
        updates: torch.Tensor = module.norm_updates  # type: ignore[assignment]
        if module.training:
            batch = norm.mean()
            with torch.no_grad():
                running.mul_(self.norm_decay).add_(batch.detach().to(running.dtype),
                                                  alpha=1.0 - self.norm_decay)
                updates.add_(1)
            return batch
        # eval: the debiased average; a layer never trained falls back to the batch mean
        debias = 1.0 - torch.pow(torch.tensor(self.norm_decay, dtype=torch.float64,
                                              device=running.device), updates)
        average = (running / debias.clamp_min(1e-12)).to(norm.dtype)
        return torch.where(updates > 0, average, norm.mean())

    def activate(self, cos: torch.Tensor, norm: torch.Tensor | None,
                 shape: tuple[int, ...]) -> torch.Tensor:
        """h(||x||) g(θ) from cos θ and ||x|| = sqrt(Σ x² + 1e-4) (broadcastable to cos).

        ``shape`` views a per-channel vector so it broadcasts against ``cos``:
        (1, -1, 1, 1) for conv maps, (-1,) for linear outputs. ``norm`` may be None when
        h = 1 (SphereConv).
        """
        k = self.k.view(shape) if self.k is not None else None
        g = angle_function(cos, self.angle_fn, k)
        if self.magnitude == "sphere":
            return g
        assert norm is not None
        if self.normalize:
            norm = norm / self.mean_norm(norm)
        rho = self.rho().view(shape) if self.r is not None else None
        return magnitude_function(norm, self.magnitude, rho, self.tanh_form) * g

    def combine(self, raw: torch.Tensor, sq_sum: torch.Tensor | None,
                shape: tuple[int, ...]) -> torch.Tensor:
        """h(||x||) g(θ) from ``raw = <ŵ, x>`` and ``sq_sum = Σ x²`` (broadcastable to raw)."""
        raw = upcast(raw)
        if not self.needs_input_norm:
            return raw
        assert sq_sum is not None
        inv = inverse_norm(sq_sum)  # 1 / ||x||
        return self.activate(raw * inv, (sq_sum + EPS) * inv, shape)

    def angular_repr(self) -> str:
        text = f"angle={self.angle_fn}, magnitude={self.magnitude}"
        if self.magnitude == "tanh":
            text += f", tanh_form={self.tanh_form}"
        return text + (", normalize=True" if self.normalize else "")
