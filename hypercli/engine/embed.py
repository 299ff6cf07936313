"""``embed``: face embeddings of images, with the mirror image combined as each protocol does.

Face verification scores a pair by the embeddings of its two images, each computed from the
image and its horizontal mirror (faces.md §2):

- ``flip="sum"``: insightface's evaluator, f(x) + f(mirror(x)), (B, D);
- ``flip="concat"``: SphereFace's evaluator (the authors' MATLAB code), [f(x), f(mirror(x))],
  (B, 2D);
- ``flip="none"``: f(x) alone, (B, D).

Embeddings are raw (not L2-normalized): each protocol normalizes its own way, and the
insightface protocol reports the mean raw norm (XNorm). ``embed_files`` embeds image files
streamed through the loader (L2-normalized per row by default) into one preallocated array;
``embed_checkpoint`` is ``hyper embed``: a checkpoint, a folder or list of images, a file.

    emb = embed(model, batches_of_images, device="cpu", flip="sum")   # (N, D) float32
    emb, paths = embed_files(model, ["a.png", "b.png"], root="faces/", image_size=112)
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from hypercli.data.images import ImageFiles
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


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows of ``x`` (N, D) divided by their L2 norms, ``x / max(||x||, eps)`` (an all-zero
    row stays zero)."""
    return F.normalize(x, p=2.0, dim=1, eps=eps)


def input_size(image_size: Any) -> tuple[int, int]:
    """A model's input size ``(H, W)`` from a checkpoint's ``image_size``: an int (square)
    or an ``(H, W)`` pair. Raises ``HyperError`` for anything else."""
    if isinstance(image_size, int) and not isinstance(image_size, bool) and image_size > 0:
        return image_size, image_size
    if (isinstance(image_size, (list, tuple)) and len(image_size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                    for v in image_size)):
        return int(image_size[0]), int(image_size[1])
    raise HyperError(f"image size {image_size!r}: expected a positive int or an (H, W) pair")


def _header_size(data: bytes) -> tuple[int, int] | None:
    """``(H, W)`` of an encoded image from its header alone, or ``None`` when Pillow cannot
    read it (the decoder then reports the file)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
    except Exception:  # Pillow raises OSError, ValueError, SyntaxError on bad bytes
        return None
    return h, w


def _size_message(where: str, got: tuple[int, int], want: tuple[int, int], whence: str) -> str:
    return (f"{where} is {got[0]}x{got[1]} (height x width) but the model takes {want[0]}x"
            f"{want[1]} images{whence}; resize or align the images to {want[0]}x{want[1]}")


class _SizedFiles(ImageFiles):
    """``ImageFiles`` whose ``read`` (in a loader worker) refuses an image of another size
    than ``size``, naming the file (a ``HyperError`` there reaches the caller as one line)."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]],
                 root: str | os.PathLike[str] | None, size: tuple[int, int] | None,
                 whence: str) -> None:
        super().__init__(paths, root, "image")
        self.size, self.whence = size, whence

    def read(self, i: int) -> tuple[bytes, int]:
        data, label = super().read(i)
        got = _header_size(data) if self.size is not None else None
        if got is not None and got != self.size:
            raise HyperError(_size_message(self.describe(i), got, self.size, self.whence))
        return data, label


def _channels_of(model: nn.Module) -> int:
    """The input channels of a ``Net`` (its normalization's mean), else 3."""
    mean = getattr(getattr(model, "normalize", None), "mean", None)
    return int(mean.shape[1]) if isinstance(mean, torch.Tensor) and mean.dim() == 4 else 3


def embed_files(model: nn.Module, paths: Sequence[str | os.PathLike[str]],
                root: str | os.PathLike[str] | None = None, flip: str = "sum",
                normalize: bool = True, batch_size: int = 256, workers: int = 2,
                device: torch.device | str = "cpu", progress: bool = False, *,
                image_size: Any = None, channels: int | None = None,
                console: Console | None = None, whence: str = "") -> tuple[np.ndarray, list[str]]:
    """The embeddings of the image files ``root / p`` for ``p`` in ``paths``, in order.

    Returns ``(embeddings, paths)``: float32 (N, D), or (N, 2D) for ``flip="concat"``
    (``embed_batches``), each row divided by its L2 norm unless ``normalize=False``; and
    the paths as strings. Images are decoded by ``workers`` loader processes to
    ``channels`` (1: gray, 3: RGB; default: the model's input channels) and embedded
    ``batch_size`` at a time on ``device``; the rows go straight into one preallocated
    array. ``image_size``: the model's input size, an int or ``(H, W)`` (``whence`` says
    where it comes from in messages); ``progress``: a bar with images/s on ``console``.

    Raises ``HyperError`` for an unknown ``flip``, a bad ``batch_size`` or ``workers``, no
    paths, a missing or unreadable file, an image of another size than ``image_size``, or
    non-finite embeddings."""
    from torchvision.transforms import v2

    from hypercli.checks import require_finite
    from hypercli.data.stream import StreamSplit
    from hypercli.engine.progress import training_progress

    if flip not in FLIP_MODES:
        raise HyperError(f"--flip {flip!r}: use one of {', '.join(FLIP_MODES)}")
    if batch_size < 1:
        raise HyperError(f"--batch-size {batch_size}: must be at least 1")
    if workers < 0:
        raise HyperError(f"--workers {workers}: must be 0 (decode in this process) or more")
    if not paths:
        raise HyperError("no image files given")
    size = input_size(image_size) if image_size is not None else None
    reader = _SizedFiles(paths, root, size, whence)
    split = StreamSplit(reader, v2.Identity(), channels or _channels_of(model), workers=workers)
    n = len(reader)

    def images() -> Iterator[torch.Tensor]:
        for x, _ in split.batches(batch_size):
            got = (int(x.shape[2]), int(x.shape[3]))  # (B, C, H, W)
            if size is not None and got != size:  # the worker check could not read a header
                raise HyperError(_size_message("an image", got, size, whence))
            yield x

    out: np.ndarray | None = None
    done = 0
    bar = training_progress(console or Console(stderr=True), enabled=progress,
                            stats="{ips:.0f} img/s")
    bar.start()
    try:
        task = bar.add_task("embedding", total=n, ips=0.0)
        t0 = time.perf_counter()
        for y in embed_batches(model, images(), device, flip):  # (B, D) float32
            require_finite(y, f"the embeddings of images {done}..{done + len(y) - 1}",
                           "the model's weights or these images are not usable")
            if normalize:
                y = l2_normalize(y)
            if out is None:
                out = np.empty((n, y.shape[1]), dtype=np.float32)
            out[done:done + len(y)] = y.numpy()
            done += len(y)
            bar.update(task, completed=done, ips=done / max(time.perf_counter() - t0, 1e-9))
        bar.update(task, description="embedded")
    finally:
        bar.stop()
    if out is None or done != n:
        raise HyperError(f"{done} of {n} images were embedded; the loader lost some")
    return out, [str(p) for p in paths]


def embed_checkpoint(checkpoint: str | os.PathLike[str], images: str | os.PathLike[str],
                     out: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                     flip: str = "sum", normalize: bool = True, batch_size: int = 256,
                     workers: int = 2, device: str = "auto", force: bool = False,
                     progress: bool = False, console: Console | None = None) -> dict[str, Any]:
    """``hyper embed``: the embeddings of a folder or list of images (``image_list``) by
    the model of ``checkpoint``, written to ``out`` and its JSON sidecar
    (``hypercli.engine.embeddings_file``). Images are decoded gray or RGB after the
    checkpoint's ``in_channels`` and must have its ``image_size``.

    Returns the written metadata plus ``out`` and ``sidecar``. Raises ``HyperError`` for an
    output that exists (without ``force``) or has no .safetensors / .npy name, and for
    everything ``image_list``, ``load_checkpoint`` and ``embed_files`` refuse; all checks
    that need no model run before the model is loaded."""
    from hypercli.data.image_list import image_list
    from hypercli.engine.checkpoint import checkpoint_file, load_checkpoint, read_checkpoint
    from hypercli.engine.distributed import resolve_device
    from hypercli.engine.embeddings_file import FORMAT, VERSION, check_output, save_embeddings

    if flip not in FLIP_MODES:
        raise HyperError(f"--flip {flip!r}: use one of {', '.join(FLIP_MODES)}")
    check_output(out, force)
    found = image_list(images, root)
    ckpt = checkpoint_file(checkpoint)
    dev = resolve_device(device)
    model, recipe = load_checkpoint(ckpt, dev)
    meta = read_checkpoint(ckpt)["data"]
    emb, paths = embed_files(model, found.paths, found.root, flip, normalize, batch_size,
                             workers, dev, progress, image_size=meta["image_size"],
                             channels=int(meta["in_channels"]), console=console,
                             whence=f" (the data meta of {ckpt})")
    info = {"format": FORMAT, "version": VERSION, "checkpoint": str(Path(ckpt).resolve()),
            "recipe": recipe.name, "flip": flip, "normalized": bool(normalize),
            "count": int(emb.shape[0]), "dim": int(emb.shape[1]),
            "images": str(Path(images).expanduser().resolve()),
            "root": str(found.root.resolve())}
    path, side = save_embeddings(out, emb, paths, found.labels, info)
    return {**info, "out": str(path), "sidecar": str(side),
            "has_labels": found.labels is not None}
