"""``embed``: face embeddings of images, with the mirror image combined as each protocol does.

Face verification scores a pair by the embeddings of its two images, each computed from the
image and its horizontal mirror (faces.md §2):

- ``flip="sum"``: insightface's evaluator, f(x) + f(mirror(x)), (B, D);
- ``flip="concat"``: SphereFace's evaluator (the authors' MATLAB code), [f(x), f(mirror(x))],
  (B, 2D);
- ``flip="none"``: f(x) alone, (B, D).

Embeddings are raw (not L2-normalized): each protocol normalizes its own way, and the
insightface protocol reports the mean raw norm (XNorm).

    emb = embed(model, batches_of_images, device="cpu", flip="sum")   # (N, D) float32
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from hypercli.engine.evaluate import infer
from hypercli.errors import HyperError

FLIP_MODES = ("none", "sum", "concat")


def embed_batches(model: nn.Module, xs: Iterable[torch.Tensor], device: torch.device | str = "cpu",
                  flip: str = "sum"):
    """The embeddings of each batch of ``xs`` ((B, C, H, W), uint8 or float in [0, 1]),
    yielded as float32 CPU tensors (B, D) or, for ``flip="concat"``, (B, 2D).

    ``model.features`` gives the embedding (``Net.features``: every face network's fc5 /
    BN1d output). Raises ``HyperError`` for an unknown ``flip``."""
    if flip not in FLIP_MODES:
        raise HyperError(f"flip {flip!r}: use one of {', '.join(FLIP_MODES)}")
    f = model.features

    def output(x: torch.Tensor) -> torch.Tensor:
        y = f(x).float()
        if flip == "none":
            return y
        m = f(x.flip(3)).float()
        return y + m if flip == "sum" else torch.cat([y, m], dim=1)

    return infer(model, xs, device, output)


def embed(model: nn.Module, xs: Iterable[torch.Tensor], device: torch.device | str = "cpu",
          flip: str = "sum") -> torch.Tensor:
    """All embeddings of ``xs`` in order, (N, D) or (N, 2D) float32 on the CPU (see
    ``embed_batches``); an empty input gives (0, 0)."""
    out = list(embed_batches(model, xs, device, flip))
    return torch.cat(out) if out else torch.empty(0, 0)
