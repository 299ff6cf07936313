"""Hyperspherical energy of a layer's filters, chunked so that thousands of filters fit.

Liu et al., "Learning towards Minimum Hyperspherical Energy", NeurIPS 2018, Eq. 1: the
N filters of a layer are flattened and projected to the unit sphere, ŵ_i = w_i / ||w_i||,
and the energy is the mean over pairs i < j of f(<ŵ_i, ŵ_j>) (kernels in
``hypercli.mhe.kernels``). As in the authors' code, ||w|| = sqrt(Σ w² + 1e-4), and
half-space MHE (their ``half_mhe``) takes the 2N vectors [W, -W].

The N x N Gram matrix is never held at once: rows are processed in blocks, and the
gradient Σ_j f'(G_ij) ŵ_j is computed in the same pass, so memory is O(block x N) with
or without autograd.

    >>> w = torch.randn(256, 128, 3, 3, requires_grad=True)
    >>> hyperspherical_energy(w, s="1").backward()
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from hypercli.errors import HyperError
from hypercli.mhe.kernels import Kernel, parse_kernel

NORM_EPS = 1e-4  # the authors' sqrt(Σ w² + 1e-4)
CHUNK_ELEMENTS = 1 << 22  # Gram entries per block (16 MiB in float32)


def normalize_filters(weight: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """(N, ...) -> (N, D) rows w_i / sqrt(||w_i||² + eps), eps >= 0.

    A row with ||w_i||² + eps = 0 (a zero filter at eps = 0) has no direction: it maps to
    the zero vector, with a zero gradient, instead of 0/0 = NaN.
    """
    if not 0.0 <= eps < float("inf"):
        raise HyperError(f"the normalization eps must be a finite number >= 0, got {eps}")
    w = weight.reshape(weight.shape[0], -1)  # (N, D)
    sq = (w * w).sum(1, keepdim=True) + eps
    pos = sq > 0
    inv = torch.where(pos, torch.rsqrt(torch.where(pos, sq, torch.ones_like(sq))),
                      torch.zeros_like(sq))
    return w * inv


def pair_count(n: int, half_space: bool = False) -> int:
    """Number of pairs i < j: N(N-1)/2, or 2N(2N-1)/2 for [W, -W]."""
    m = 2 * n if half_space else n
    return m * (m - 1) // 2


def total_energy(
    w_hat: torch.Tensor,
    kernel: Kernel,
    half_space: bool = False,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> torch.Tensor:
    """Σ_{i<j} f(<ŵ_i, ŵ_j>) over the rows of ``w_hat`` (N, D) (or of [W, -W]); a scalar.

    Differentiable once with respect to ``w_hat`` (the gradient is formed blockwise in the
    forward pass when autograd needs it).
    """
    need_grad = torch.is_grad_enabled() and w_hat.requires_grad
    return _BlockEnergy.apply(w_hat, kernel, half_space, chunk_elements, need_grad)


class _BlockEnergy(torch.autograd.Function):
    """Blockwise Σ_{i<j} f(G_ij) with its gradient G' = Σ_{j≠i} φ'(G_ij) ŵ_j."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        w_hat: torch.Tensor,
        kernel: Kernel,
        half_space: bool,
        chunk_elements: int,
        need_grad: bool,
    ) -> torch.Tensor:
        n = w_hat.shape[0]
        rows = max(1, min(n, chunk_elements // max(n, 1)))
        total = w_hat.new_zeros((), dtype=torch.float64)
        grad = torch.zeros_like(w_hat) if need_grad else None
        for a in range(0, n, rows):
            b = min(n, a + rows)
            g = w_hat[a:b] @ w_hat.T  # (c, N) cosines
            value, deriv = kernel.value_and_deriv(g)
            if half_space:
                # pairs of [W, -W]: (i, j) and (N+i, N+j) give f(G_ij), (i, N+j) and (j, N+i)
                # give f(-G_ij), and (i, N+i) gives f(-G_ii).
                value_n, deriv_n = kernel.value_and_deriv(-g)
                diag = torch.arange(b - a, device=w_hat.device)
                self_term = value_n[diag, diag + a].sum(dtype=torch.float64)
                total += 2.0 * (value + value_n).triu(a + 1).sum(dtype=torch.float64) + self_term
                if grad is not None:
                    self_deriv = deriv_n[diag, diag + a].clone()  # d f(-G_ii) = -2 f'(-G_ii) ŵ_i
                    deriv = 2.0 * (deriv - deriv_n)
                    deriv[diag, diag + a] = 0.0
                    grad[a:b] = deriv @ w_hat - 2.0 * self_deriv[:, None] * w_hat[a:b]
            else:
                total += value.triu(a + 1).sum(dtype=torch.float64)  # j > i
                if grad is not None:
                    diag = torch.arange(b - a, device=w_hat.device)
                    deriv[diag, diag + a] = 0.0
                    grad[a:b] = deriv @ w_hat
        if grad is not None:
            ctx.save_for_backward(grad)
        return total.to(w_hat.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_out, None, None, None, None


def hyperspherical_energy(
    weight: torch.Tensor,
    s: str | int | float = "1",
    half_space: bool = False,
    eps: float = NORM_EPS,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> torch.Tensor:
    """MHE of one layer: the mean over pairs i < j of f_s(<ŵ_i, ŵ_j>) (MHE paper, Eq. 1).

    Args:
        weight: (N, ...) filters, one per row after flattening (conv (out, in, k, k),
            linear (out, in)).
        s: "0", "1", "2" (Euclidean forms), "a0", "a1", "a2" (angular forms) or another
            positive real / "a<real>"; see ``hypercli.mhe.kernels``.
        half_space: use the 2N vectors [W, -W] (half-space MHE), so that collinear filters
            pointing in opposite directions are penalized too.
        eps: added to ||w||² before the square root, >= 0 (1e-4 in the authors' code; 0
            for exact unit vectors; a zero filter then counts as the zero vector, so the
            energy and its gradient stay finite).
        chunk_elements: Gram entries computed at once.

    Returns:
        A scalar tensor in the dtype of ``weight``, differentiable once.
    """
    kernel = parse_kernel(s)
    n = weight.shape[0]
    if n < 2 and not half_space:
        return weight.new_zeros(())
    w_hat = normalize_filters(weight, eps)
    total = total_energy(w_hat, kernel, half_space, chunk_elements)
    return total / pair_count(n, half_space)


Named = tuple[str, torch.Tensor]


def module_weight(mod: nn.Module) -> torch.Tensor | None:
    """``mod.weight``, or for a parametrized weight (spectral norm) its unconstrained
    ``original``: ``mod.weight`` is then recomputed on every access (and advances the power
    iteration in training mode), so a tensor taken once would go stale. Spectral norm
    divides the whole matrix by one σ, so each filter keeps its direction, the only thing
    MHE sees (the MHE-GAN code, too, takes the weight before normalization)."""
    from torch.nn.utils import parametrize

    if parametrize.is_parametrized(mod, "weight"):
        original = getattr(mod.parametrizations.weight, "original", None)
        if isinstance(original, torch.Tensor):
            return original
    w = getattr(mod, "weight", None)
    return w if isinstance(w, torch.Tensor) else None


def layer_weights(model: nn.Module) -> tuple[list[Named], Named | None]:
    """The hidden conv/linear weights of ``model`` and its classifier weight.

    The classifier is ``model.head.weight`` when the model has a head owning a weight
    (``hypercli.models.Net``), otherwise the last ``nn.Linear``. Hidden layers are every
    other convolution or linear module (subclasses included, so SphereConv and the
    decoupled operators count), in module order. A parametrized weight is given as its
    ``original`` (``module_weight``).
    """
    head = getattr(model, "head", None)
    classifier: Named | None = None
    skip: set[int] = set()
    if isinstance(head, nn.Module) and isinstance(getattr(head, "weight", None), torch.Tensor):
        classifier = ("head", head.weight)
        skip = {id(m) for m in head.modules()}
    found = [
        (name, module_weight(mod))
        for name, mod in model.named_modules()
        if isinstance(mod, (nn.modules.conv._ConvNd, nn.Linear)) and id(mod) not in skip
    ]
    layers = [(name, w) for name, w in found if w is not None and w.dim() >= 2]
    if classifier is None and layers and isinstance(model.get_submodule(layers[-1][0]), nn.Linear):
        classifier = layers.pop()
    return layers, classifier


@torch.no_grad()
def layer_energies(
    model: nn.Module, s: str | int | float = "1", half_space: bool = False
) -> dict[str, float]:
    """The hyperspherical energy of every conv/linear layer of ``model`` (for ``hyper eval``).

    Hidden layers use half-space MHE when ``half_space`` is set; the classifier (key
    ``head`` for a ``Net``) always uses plain MHE, as in the authors' code.
    """
    kernel = parse_kernel(s)
    hidden, classifier = layer_weights(model)
    out = {
        name: float(hyperspherical_energy(w.detach().float(), kernel.name, half_space))
        for name, w in hidden
    }
    if classifier is not None:
        name, w = classifier
        out[name] = float(hyperspherical_energy(w.detach().float(), kernel.name, False))
    return out
