"""``build_data(cfg, seed)``: the one call the engine makes for its data.

An in-memory dataset (``hypercli.registry.DATASETS``: Fashion-MNIST, CIFAR, synthetic)
gives ``Splits`` and the batched on-device ``BatchLoader``; a format streamed from disk
(``hypercli.registry.READERS``: folder, list, webdataset, recordio) gives ``StreamData``
and the DataLoader-backed ``StreamLoader``. Both offer ``train``/``val``/``test`` splits
(``evaluate`` reads either), ``class_names``, ``mean``, ``std``, ``in_channels``,
``image_size`` (``S`` for square images, ``(H, W)`` otherwise) and
``train_loader(cfg, seed, device, rank, world)``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hypercli.checks import square_or_hw
from hypercli.data.base import Splits
from hypercli.data.prepare import load_data
from hypercli.data.readers.base import Found, IndexReader, SubsetReader
from hypercli.data.stream import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    StreamData,
    StreamSplit,
    decode,
    decode_pil,
)
from hypercli.errors import HyperError
from hypercli.recipe import DataConfig
from hypercli.registry import READERS, check_kwargs

STREAM_ONLY = ("image_size", "samples_per_epoch")


def is_streamed(name: str) -> bool:
    return name in READERS


def build_data(cfg: DataConfig, seed: int = 0, require_test: bool = True) -> Splits | StreamData:
    """The splits of a run: in memory for registered datasets, streamed for formats.

    ``require_test=False``: a streamed dataset without a test split (a face training set,
    scored on verification sets instead) gets ``test=None`` rather than an error."""
    if is_streamed(cfg.name):
        return build_stream(cfg, seed, require_test)
    set_ = [k for k in STREAM_ONLY if getattr(cfg, k) is not None]
    if "random-resized-crop" in cfg.augment:
        set_.append("augment random-resized-crop")
    if set_:
        raise HyperError(f"data.{set_[0]} applies to formats streamed from disk "
                         f"({', '.join(READERS.names())}); {cfg.name} is held in memory")
    return load_data(cfg, seed)


def find(cfg: DataConfig) -> Found:
    """The format builder ``cfg.name`` applied to ``cfg.root`` and ``cfg.args``."""
    builder = READERS.get(cfg.name)
    check_kwargs(builder, cfg.args, f"data format {cfg.name!r} (data.args)")
    if cfg.expects and (cfg.root is None or not Path(cfg.root).expanduser().exists()):
        where = ("data.root is not set" if cfg.root is None
                 else f"data.root {cfg.root} does not exist")
        raise HyperError(f"{where}: this recipe needs {cfg.expects}")
    return builder(root=cfg.root, **cfg.args)


def first_image(reader) -> torch.Tensor:
    """The first training image as uint8 (C, H, W), gray kept gray (the dataset's channels
    and size)."""
    if isinstance(reader, IndexReader):
        data, _ = reader.read(0)
        where = reader.describe(0)
    else:
        from webdataset.tariterators import tarfile_samples

        from hypercli.data.readers.wds import IMAGE_KEYS

        s = next(iter(tarfile_samples([{"url": str(reader.shards[0].path)}])), {})
        key = next((k for k in IMAGE_KEYS if k in s), None)
        where = f"{reader.shards[0].path}: sample {s.get('__key__')}"
        if key is None:
            raise HyperError(f"{where} holds no image member ({', '.join(IMAGE_KEYS)})")
        data = s[key]
    try:
        return decode(data)
    except Exception as exc:
        raise HyperError(f"{where}: not a readable image ({exc})") from None


def build_stream(cfg: DataConfig, seed: int = 0, require_test: bool = True) -> StreamData:
    from hypercli.data.transforms import eval_transform, train_transform

    if cfg.classes or cfg.imbalance is not None:
        raise HyperError("data.classes and data.imbalance work on in-memory datasets only; "
                         f"for {cfg.name}, write the classes you want into their own folder "
                         "or list file")
    found = find(cfg)
    train_r, test_r, val_r = found.train, found.test, None
    if isinstance(train_r, IndexReader):
        order = torch.randperm(len(train_r), generator=torch.Generator().manual_seed(seed))
        if cfg.val_split > 0:
            n_val = int(round(cfg.val_split * len(train_r)))
            val_r = SubsetReader(train_r, order[:n_val].sort().values.tolist())
            order = order[n_val:]
        if cfg.subset is not None:
            order = order[: cfg.subset]
        if cfg.val_split > 0 or cfg.subset is not None:
            train_r = SubsetReader(train_r, order.sort().values.tolist())
    elif cfg.val_split > 0 or cfg.subset is not None:
        raise HyperError("webdataset: data.val_split and data.subset need random access; "
                         "keep validation shards apart (data.args.test) and set "
                         "data.samples_per_epoch for shorter epochs")
    if test_r is None and (val_r is not None or require_test):
        if val_r is None:
            raise HyperError(f"{found.root} has no test split; set data.val_split (e.g. 0.1) "
                             "to hold out part of the training images for testing")
        test_r, val_r = val_r, None
    if len(train_r) == 0:
        raise HyperError("the training split is empty after data.subset/val_split")
    info = found.info
    img = first_image(found.train)
    channels = int(info.get("channels") or img.shape[0])
    # S for square images, (H, W) otherwise: what the transforms give, else the stored size
    size = square_or_hw(cfg.image_size if cfg.image_size is not None else
                        (int(img.shape[1]), int(img.shape[2])), "data.image_size")
    k = found.num_classes or len(found.class_names or [])
    names = found.class_names if found.class_names and len(found.class_names) == k else \
        [str(i) for i in range(k)]
    mean = info.get("mean") or (IMAGENET_MEAN if channels == 3 else [0.5])
    std = info.get("std") or (IMAGENET_STD if channels == 3 else [0.25])
    common = dict(channels=channels, workers=cfg.workers, skip_corrupt=cfg.skip_corrupt,
                  seed=seed, shuffle_buffer=cfg.shuffle_buffer)
    ev = eval_transform(cfg)
    return StreamData(
        train=StreamSplit(train_r, train_transform(cfg), **common),
        val=StreamSplit(val_r, ev, **common) if val_r is not None else None,
        test=StreamSplit(test_r, ev, **common) if test_r is not None else None,
        class_names=names, mean=list(mean), std=list(std), in_channels=channels,
        image_size=size, samples_per_epoch=cfg.samples_per_epoch,
        meta={"dataset": cfg.name, "format": found.format, "root": str(found.root)})


__all__ = ["build_data", "build_stream", "decode", "decode_pil", "find", "is_streamed"]
