"""``evaluate``: accuracy, loss, per-class accuracy and the confusion matrix of a model."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.data.base import Split


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu",
            batch_size: int = 1000, features: bool = False) -> torch.Tensor:
    """Logits (or deep features) of uint8 (N,C,H,W) or float [0,1] images, on the CPU."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device)
            x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
            out.append((model.features(x) if features else model(x)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def evaluate(model: nn.Module, split: Split, device: torch.device | str = "cpu",
             batch_size: int = 1000, num_classes: int | None = None) -> dict[str, Any]:
    """Evaluate ``model`` (inference logits) on a split.

    Returns ``accuracy`` and ``loss`` (plain softmax cross-entropy of the inference
    logits), ``per_class_accuracy`` and ``confusion`` (rows: true class, columns: predicted).
    """
    logits = predict(model, split.images, device, batch_size)
    labels = split.labels
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
