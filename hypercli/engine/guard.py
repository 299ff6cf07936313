"""The divergence guard: non-finite weights or evaluation losses stop a run, and a
checkpoint with non-finite weights never replaces the last good one.

The training loss alone misses a run whose weights overflow in the optimizer step (one
step per epoch at a huge learning rate: the losses 1.5, 8.6e9, 4.8e36 are all finite), so
the weights and buffers (BatchNorm statistics included) are checked before every
checkpoint and the evaluation losses after every evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from hypercli.checks import nonfinite_tensors
from hypercli.errors import DivergenceError

ADVICE_TEXT = ("Lower optimizer.lr (resume from the kept checkpoint with --resume --set "
               "optimizer.lr=...), raise the A-Softmax lambda_min, or add train.grad_clip")


def kept(ckpt_path: Path) -> str:
    return (f"the last good checkpoint {ckpt_path} is kept" if ckpt_path.exists()
            else "no checkpoint was written yet")


def check_weights(model: nn.Module, where: str, ckpt_path: Path) -> None:
    """Raise ``DivergenceError`` naming the tensors of ``model`` that hold NaN or inf."""
    bad = nonfinite_tensors(model.state_dict())
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DivergenceError(f"training diverged: {len(bad)} weight tensor(s) hold NaN or inf "
                              f"{where} ({', '.join(bad[:3])}{more}); {kept(ckpt_path)}. "
                              + ADVICE_TEXT)


def check_record(record: dict[str, Any], where: str, ckpt_path: Path) -> None:
    """Raise ``DivergenceError`` if an evaluation loss of ``record`` is not finite."""
    for key in ("test_loss", "val_loss"):
        v = record.get(key)
        if v is not None and not (v == v and abs(v) != float("inf")):
            raise DivergenceError(f"training diverged: {key} is {v} {where}; "
                                  f"{kept(ckpt_path)}. " + ADVICE_TEXT)
