"""``verify``: a model's accuracy on a face verification set under a named protocol.

The embeddings of the set's images come from ``hypercli.engine.embed`` (the one inference
loop, eval mode, no gradients), each image's and its mirror's, combined as the protocol
asks (summed for insightface, concatenated for SphereFace); the protocol
(``hypercli.verification.protocols``) turns the pairs' embeddings into the numbers::

    vset = load_set("lfw.bin")                                  # decoded once
    r = verify(model, vset, "insightface", device="cuda")       # as often as needed
    r["accuracy"], r["accuracy_std"], r["xnorm"], r["tar@far=0.001"]

``verify_checkpoint`` is what ``hyper eval --verify`` runs: a checkpoint on several sets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.registry import PROTOCOLS
from hypercli.verification.dataset import VerificationSet
from hypercli.verification.protocols import Protocol, own_protocol


def _hint(got: tuple[int, int], want: tuple[int, int]) -> str:
    if got == (112, 112) and want == (112, 96):
        return ("; a SphereFace network trained on 112x96 crops takes insightface's 112x112 "
                "ones with model.args.crop=insightface")
    return "; evaluate the model on crops of the size it was trained on"


def _check_shape(vset: VerificationSet, shape: tuple[int, ...], want: Sequence[int] | None
                 ) -> None:
    """Raise ``HyperError`` unless images (C, H, W) ``shape`` fit ``want`` = (C, H, W)."""
    if want is None:
        return
    c, h, w = (int(v) for v in shape)
    wc, wh, ww = (int(v) for v in want)
    if (h, w) != (wh, ww):
        raise HyperError(f"{vset.name}: its images are {h}x{w}, the model takes {wh}x{ww}"
                         + _hint((h, w), (wh, ww)))
    if c != wc:
        raise HyperError(f"{vset.name}: its images have {c} channels, the model takes {wc}; "
                         f"load the set with channels={wc}")


def _batches(vset: VerificationSet, batch_size: int, want: Sequence[int] | None,
             workers: int) -> Iterator[torch.Tensor]:
    if vset.images is not None:
        _check_shape(vset, tuple(vset.images.shape[1:]), want)
        for i in range(0, len(vset.images), batch_size):
            yield vset.images[i : i + batch_size]
        return
    from hypercli.data.images import image_files

    channels = int(want[0]) if want is not None else 3
    for i, (x, _) in enumerate(image_files(vset.paths or [], vset.root, channels,
                                           workers).batches(batch_size)):
        if i == 0:
            _check_shape(vset, tuple(x.shape[1:]), want)
        yield x


def protocol_of(protocol: str | Protocol | None, vset: VerificationSet | None = None
                ) -> Protocol:
    """A registered protocol by name (``PROTOCOLS``), the one given, or for ``None`` the
    protocol of ``vset``'s format (``protocols.own_protocol``). Raises ``HyperError`` for an
    unknown name."""
    if protocol is None:
        protocol = own_protocol(vset.format if vset is not None else "")
    return PROTOCOLS.get(protocol) if isinstance(protocol, str) else protocol


def verify(model: nn.Module, vset: VerificationSet, protocol: str | Protocol | None = None,
           device: torch.device | str = "cpu", batch_size: int = 256,
           input_shape: Sequence[int] | None = None, workers: int = 2) -> dict[str, Any]:
    """``protocol`` (``"insightface"``, ``"sphereface"`` or a ``Protocol``; ``None``: the
    set's own, insightface for a .bin or a pair list, sphereface for a pairs.txt) on ``vset``.

    ``model.features`` gives the embedding (images in [0, 1]). ``input_shape``: the (C, H, W)
    the model takes (default: ``model.input_shape`` if it has one; else unchecked); a set
    whose images do not fit is a one-line ``HyperError``. A decoded set (``load_set``) is
    embedded from memory, a set of files is decoded on the way by ``workers`` processes.

    Every image is embedded with its mirror (``embed(flip="concat")``), the two combined as
    the protocol's ``flip`` says (the sum, as ``embed(flip="sum")`` computes it, or the
    concatenation); XNorm is insightface's, the mean norm of the image and mirror embeddings
    taken alone, over the pairs' images. Returns the protocol's dict plus ``set`` (the name),
    ``source`` (its file) and ``images`` (the number embedded)."""
    from hypercli.engine.embed import embed

    proto = protocol_of(protocol, vset)
    if proto.flip not in ("sum", "concat"):
        raise HyperError(f"protocol {proto.name}: flip {proto.flip!r} is neither sum nor concat")
    if not 2 <= vset.folds <= len(vset):
        raise HyperError(f"{vset.name}: {len(vset)} pairs cannot fill {vset.folds} folds (a "
                         "protocol needs 2 or more folds of at least one pair)")
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    views = embed(model, _batches(vset, batch_size, input_shape, workers), device,
                  flip="concat")
    if len(views) != vset.num_images:
        raise HyperError(f"{vset.name}: {len(views)} embeddings for {vset.num_images} images")
    d = views.shape[1] // 2
    image, mirror = views[:, :d], views[:, d:]
    pairs = torch.from_numpy(vset.pairs.reshape(-1))
    norms = torch.cat([image[pairs].double().norm(dim=1), mirror[pairs].double().norm(dim=1)])
    xnorm = float(norms.mean())
    combined = image + mirror if proto.flip == "sum" else views
    emb = combined.double().numpy()
    out = proto(emb[vset.pairs[:, 0]], emb[vset.pairs[:, 1]], vset.issame, vset.folds,
                xnorm)
    return {"set": vset.name, "source": vset.source, "images": int(vset.num_images), **out}


def verify_checkpoint(checkpoint: str | os.PathLike[str], sets: Sequence[str | os.PathLike[str]],
                      protocol: str | None = None, device: str = "auto",
                      images: str | os.PathLike[str] | None = None, image_ext: str = "jpg",
                      batch_size: int | None = None, workers: int = 2) -> dict[str, Any]:
    """A checkpoint on each verification set in ``sets`` (``load_set``: a .bin, a pairs.txt
    with its image folder ``images``, or a pair list): ``{"checkpoint", "recipe",
    "protocol", "sets": [verify's dict per set]}``; ``protocol`` ``None`` scores each set
    by its own (``verify``) and is ``null`` in the result. The sets are decoded to the
    model's channels; ``batch_size`` defaults to the recipe's ``data.eval_batch_size``."""
    from hypercli.engine.checkpoint import load_checkpoint, read_checkpoint
    from hypercli.engine.distributed import resolve_device
    from hypercli.engine.embed import input_size
    from hypercli.verification.load import load_set

    proto = protocol_of(protocol) if protocol is not None else None
    if not sets:
        raise HyperError("no verification set given")
    dev = resolve_device(device)
    model, recipe = load_checkpoint(checkpoint, dev)
    meta = read_checkpoint(checkpoint)["data"]
    shape = (int(meta["in_channels"]), *input_size(meta["image_size"]))
    bs = batch_size or recipe.data.eval_batch_size
    loaded = [load_set(p, images, image_ext, channels=shape[0], workers=workers) for p in sets]
    results = [verify(model, v, proto, dev, bs, shape, workers) for v in loaded]
    return {"checkpoint": str(checkpoint), "recipe": recipe.name,
            "protocol": proto.name if proto is not None else None, "sets": results}

