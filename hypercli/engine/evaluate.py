"""``evaluate``: accuracy, loss, per-class accuracy and the confusion matrix of a model."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.checks import require_finite, require_unit_interval
from hypercli.data.base import Split
from hypercli.errors import HyperError


def infer(model: nn.Module, xs: Iterable[torch.Tensor], device: torch.device | str,
          output: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[torch.Tensor]:
    """``output(x)`` (float, on the CPU) of each batch ``x`` of ``xs`` (uint8, or float in
    [0, 1], moved to ``device`` as float in [0, 1]), with ``model`` in eval mode and without
    gradients; the model's mode is restored afterwards. The one inference loop of
    ``predict``, ``predict_batches`` and ``hypercli.engine.embed``."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x in xs:
                x = x.to(device)
                if x.dtype == torch.uint8:
                    x = x.float().div_(255.0)
                else:
                    x = x.float()
                    require_unit_interval(x, "images")
                yield output(x).float().cpu()
    finally:
        model.train(was_training)


def _infer(model: nn.Module, xs: Iterable[torch.Tensor], device: torch.device | str,
           features: bool, tta: tuple[str, ...] | list[str]) -> Iterator[torch.Tensor]:
    """Logits (or features) of each batch of ``xs``; ``tta`` as in ``predict``."""
    f = model.features if features else model

    def output(x: torch.Tensor) -> torch.Tensor:
        y = f(x).float()
        return (y + f(x.flip(3)).float()) / 2 if "flip" in tta else y

    return infer(model, xs, device, output)


def predict(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu",
            batch_size: int = 1000, features: bool = False,
            tta: tuple[str, ...] | list[str] = ()) -> torch.Tensor:
    """Logits (or deep features) of uint8 (N,C,H,W) or float [0,1] images, on the CPU.

    ``tta=("flip",)``: test-time augmentation, the mean of the outputs of each image and
    its horizontal mirror.
    """
    chunks = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    out = list(_infer(model, chunks, device, features, tta))
    return torch.cat(out) if out else torch.empty(0)


def predict_batches(model: nn.Module, batches, device: torch.device | str = "cpu",
                    tta: tuple[str, ...] | list[str] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of ``(uint8 images, labels)`` batches (a split streamed from disk);
    ``tta`` as in ``predict``."""
    labels: list[torch.Tensor] = []

    def images() -> Iterator[torch.Tensor]:
        for x, y in batches:
            labels.append(y)
            yield x

    out = list(_infer(model, images(), device, False, tta))
    return torch.cat(out), torch.cat(labels)


def evaluate(model: nn.Module, split: Split, device: torch.device | str = "cpu",
             batch_size: int = 1000, num_classes: int | None = None,
             tta: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """Evaluate ``model`` (inference logits) on a split; ``tta`` as in ``predict``.

    Returns ``accuracy`` and ``loss`` (plain softmax cross-entropy of the inference
    logits), ``per_class_accuracy`` and ``confusion`` (rows: true class, columns: predicted).
    """
    if len(split) == 0:
        raise HyperError("evaluate: the split holds no images; nothing to measure")
    if isinstance(split, Split):
        logits = predict(model, split.images, device, batch_size, tta=tta)
        labels = split.labels
    else:  # a StreamSplit (hypercli.data.stream): decoded batch by batch
        logits, labels = predict_batches(model, split.batches(batch_size), device, tta)
    require_finite(logits, "the model's logits",
                   "its weights or inputs are not finite; the accuracy would be meaningless")
    k = num_classes or logits.shape[1]
    pred = logits.argmax(1)
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)
    per_class = (confusion.diag().double() / confusion.sum(1).clamp(min=1)).tolist()
    out: dict[str, Any] = {
        "accuracy": float((pred == labels).double().mean()),
        "loss": float(F.cross_entropy(logits, labels)),
        "n": len(labels),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
    }
    if k > 5:  # ImageNet's second number; meaningless with 5 classes or fewer
        out["top5_accuracy"] = topk_accuracy(logits, labels, 5)
    return out


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` largest logits (ties: torch.topk's
    order). logits (N, K), labels (N,)."""
    if len(labels) == 0:
        return 0.0
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices  # (N, k)
    return float((top == labels[:, None]).any(1).double().mean())
