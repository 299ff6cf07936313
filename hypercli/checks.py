"""Checks every public entry point shares: finite numbers, images in [0, 1], a true median,
image sizes.

Each check raises ``HyperError`` with one line that names what is wrong (which rows, which
tensor, the observed range), so a wrong number never flows silently into a metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from hypercli.errors import HyperError, NonFiniteError

UNIT_TOLERANCE = 1e-5  # round-off allowed outside [0, 1] (float32 images divided by 255)


def _rows(bad: np.ndarray, limit: int = 5) -> str:
    return ", ".join(str(int(i)) for i in bad[:limit]) + (", ..." if len(bad) > limit else "")


def require_finite(values: torch.Tensor | np.ndarray, what: str, hint: str = "") -> None:
    """Raise ``HyperError`` if ``values`` holds NaN or inf, naming the bad rows.

    ``values`` (N, ...) is checked row by row: the message lists the first bad row indices
    (a 0-d or 1-d input: the bad element indices).
    """
    arr = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return
    finite = np.isfinite(arr)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.reshape(arr.shape[0], -1).all(1)) if arr.ndim >= 1 \
        else np.array([0])
    noun = "rows" if arr.ndim >= 2 else "elements"
    total = len(arr) if arr.ndim else 1
    raise NonFiniteError(f"{what} holds NaN or inf in {noun} {_rows(bad)} ({len(bad)} of {total})"
                     + (f"; {hint}" if hint else ""))


def nonfinite_tensors(state: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors of a state dict that hold NaN or inf."""
    return [name for name, t in state.items()
            if isinstance(t, torch.Tensor) and t.is_floating_point()
            and not bool(torch.isfinite(t).all())]


def require_finite_state(state: Mapping[str, Any], what: str, hint: str = "") -> None:
    """Raise ``HyperError`` naming the tensors of a state dict that hold NaN or inf."""
    bad = nonfinite_tensors(state)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NonFiniteError(f"{what} holds NaN or inf in {len(bad)} tensor(s): "
                         f"{', '.join(bad[:3])}{more}" + (f"; {hint}" if hint else ""))


def require_unit_interval(images: torch.Tensor, what: str = "images",
                          tol: float = UNIT_TOLERANCE) -> None:
    """Raise ``HyperError`` unless float ``images`` lie in [0, 1] (± ``tol``) and are finite.

    Naming the observed min and max tells 0..255 images (max 255) from mean/std-normalized
    ones (min below 0) at a glance.
    """
    if images.numel() == 0 or not images.is_floating_point():
        return
    lo, hi = torch.aminmax(images.detach())
    lo, hi = float(lo), float(hi)
    if not (lo >= -tol and hi <= 1.0 + tol):  # also catches NaN
        raise HyperError(f"{what} must lie in [0, 1] (pixel values / 255, not normalized); "
                         f"got min {lo:.6g}, max {hi:.6g}")


def image_hw(size: Any, what: str = "image_size") -> tuple[int, int]:
    """An image size as ``(H, W)``: an int ``S`` is ``S x S``, a pair ``[H, W]`` or ``(H, W)``
    is (height, width) in pixels. Raises ``HyperError`` for anything else (a bool, a
    non-positive side, another length)."""
    if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
        return size, size
    if (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
        return int(size[0]), int(size[1])
    raise HyperError(f"{what} {size!r}: expected a size in pixels, S (S x S) or [H, W]")


def square_or_hw(size: Any, what: str = "image_size") -> int | tuple[int, int]:
    """``image_hw`` written back the way data objects carry a size: ``S`` for a square,
    ``(H, W)`` otherwise."""
    h, w = image_hw(size, what)
    return h if h == w else (h, w)


def median(values: torch.Tensor) -> float:
    """The median of a 1-d tensor: the middle value, or the mean of the two middle values
    for an even count (``torch.median`` returns the lower one). inf counts as a value;
    NaN for an empty tensor."""
    v = values.detach().flatten().double().cpu().sort().values
    n = v.numel()
    if n == 0:
        return float("nan")
    if n % 2:
        return float(v[n // 2])
    return float((v[n // 2 - 1] + v[n // 2]) / 2)
