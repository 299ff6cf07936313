"""The pair energies of MHE as functions of the cosine G = <ŵ_i, ŵ_j> (hypersphere.md §5).

Liu et al., "Learning towards Minimum Hyperspherical Energy", NeurIPS 2018, Eq. 1-2, in the
exact forms of the authors' code (wy1iu/MHE, ``_add_thomson_constraint``), with the squared
distance r² = ||ŵ_i - ŵ_j||² = 2 - 2G and the normalized angle t = arccos(G)/π + 1e-4:

    s = 0        -log(r²)             (the code's log energy: twice Σ log 1/r)
    s > 0        (r²)^(-s/2)          (s = 1 Coulomb, s = 2 as in the paper)
    a0           -log(t)
    a<s>, s > 0  t^(-s)

Every kernel returns the elementwise value and its derivative d/dG, so that the layer
regularizer and the Thomson solver share one definition and need no autograd over N x N.

    >>> k = parse_kernel("1"); v, d = k.value_and_deriv(torch.tensor([0.0]))  # r = √2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hypercli.errors import HyperError

ANGLE_EPS = 1e-4  # the authors' offset in arccos(G)/π + 1e-4
KNOWN = ("0", "1", "2", "a0", "a1", "a2")


@dataclass(frozen=True)
class Kernel:
    """One pair energy f(G). ``name`` is the s string; ``power`` >= 0 (0: the log form)."""

    name: str
    power: float
    angular: bool

    def value_and_deriv(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f(G) and f'(G) elementwise (same shape as ``g``)."""
        if self.angular:
            return self._angular(g)
        return self._euclidean(g)

    def value(self, g: torch.Tensor) -> torch.Tensor:
        """f(G) elementwise, without the derivative."""
        if self.angular:
            t = torch.acos(g.clamp(-1.0, 1.0)) / math.pi + ANGLE_EPS
            return -torch.log(t) if self.power == 0 else t.pow(-self.power)
        r2 = (2.0 - 2.0 * g).clamp_min(_tiny(g))
        return -torch.log(r2) if self.power == 0 else r2.pow(-self.power / 2)

    def _euclidean(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r2 = (2.0 - 2.0 * g).clamp_min(_tiny(g))  # squared chord length
        s = self.power
        if s == 0:  # f = -log r², f' = 2 / r²
            return -torch.log(r2), 2.0 / r2
        if s == 1:  # f = r⁻¹, f' = r⁻³ (rsqrt is the fast path of the Thomson solver)
            v = torch.rsqrt(r2)
            return v, v * v * v
        if s == 2:  # f = r⁻², f' = 2 r⁻⁴
            v = 1.0 / r2
            return v, 2.0 * v * v
        v = r2.pow(-s / 2)  # f' = s (r²)^(-s/2 - 1)
        return v, s * v / r2

    def _angular(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.acos(g.clamp(-1.0, 1.0)) / math.pi + ANGLE_EPS
        gc = _clamp_unit(g)  # the slope of arccos is infinite at ±1: keep it finite
        dt = -1.0 / (math.pi * torch.sqrt(1.0 - gc * gc))  # dt/dG
        if self.power == 0:  # f = -log t
            return -torch.log(t), -dt / t
        v = t.pow(-self.power)
        return v, -self.power * v / t * dt


def _tiny(g: torch.Tensor) -> float:
    """Smallest squared distance kept: coincident vectors give a huge, finite energy."""
    return float(torch.finfo(g.dtype).eps)


def _clamp_unit(g: torch.Tensor) -> torch.Tensor:
    """Keep arccos and its derivative finite for (numerically) parallel vectors."""
    lim = 1.0 - float(torch.finfo(g.dtype).eps)
    return g.clamp(-lim, lim)


def parse_kernel(s: str | int | float) -> Kernel:
    """The kernel for ``s``: "0", "1", "2" or any positive real; "a0", "a1", "a2" or "a<real>".

    Integers and floats (what YAML gives for ``s: 1``) are accepted. Unknown forms are a
    ``HyperError`` naming the accepted ones.
    """
    text = str(s).strip().lower()
    angular = text.startswith("a")
    body = text[1:] if angular else text
    try:
        power = float(body)
    except ValueError:
        power = float("nan")
    if not math.isfinite(power) or power < 0:
        raise HyperError(
            f"unknown MHE energy s={s!r}; use one of {', '.join(KNOWN)} "
            "(or a positive real such as 1.5, or a1.5 for the angular form)"
        )
    name = ("a" if angular else "") + (str(int(power)) if power.is_integer() else str(power))
    return Kernel(name=name, power=power, angular=angular)
