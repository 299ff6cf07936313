"""From a registered dataset to the splits a run trains on: classes, imbalance, validation.

Every choice is seeded by the recipe seed, so a run sees the same images every time.
"""

from __future__ import annotations

import math

import torch

from hypercli.data.base import RawDataset, Split, Splits
from hypercli.errors import HyperError
from hypercli.recipe import DataConfig, Imbalance
from hypercli.registry import DATASETS, check_kwargs


def load_raw(cfg: DataConfig) -> RawDataset:
    """The registered dataset ``cfg.name`` with its ``cfg.args``."""
    builder = DATASETS.get(cfg.name)
    check_kwargs(builder, cfg.args, f"dataset {cfg.name!r} (data.args)")
    return builder(root=cfg.root, download=cfg.download, **cfg.args)


def select_classes(split: Split, classes: list[int], relabel: bool = True) -> Split:
    """Keep the images of ``classes``; relabel them 0..len(classes)-1 in that order."""
    keep = torch.isin(split.labels, torch.tensor(classes))
    out = split.subset(keep.nonzero().squeeze(1))
    if relabel:
        lut = torch.full((int(split.labels.max()) + 1,), -1, dtype=torch.long)
        lut[torch.tensor(classes)] = torch.arange(len(classes))
        out = Split(out.images, lut[out.labels])
    return out


def apply_imbalance(split: Split, imb: Imbalance, num_classes: int, g: torch.Generator) -> Split:
    """Keep ``ratio`` of the images of each listed class (MHE paper, class imbalance)."""
    keep = torch.ones(len(split), dtype=torch.bool)
    for c, r in zip(imb.classes, imb.ratios):
        if not 0 <= c < num_classes:
            raise HyperError(f"data.imbalance.classes: class {c} is not in 0..{num_classes - 1}")
        idx = (split.labels == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        keep[idx[math.ceil(r * len(idx)):]] = False
    return split.subset(keep.nonzero().squeeze(1))


def load_split(cfg: DataConfig, name: str = "test", classes: list[int] | None = None) -> Split:
    """One split of the raw dataset, optionally limited to ``classes`` (original labels)."""
    raw = load_raw(cfg)
    split = raw.train if name == "train" else raw.test
    return select_classes(split, classes, relabel=False) if classes else split


def load_data(cfg: DataConfig, seed: int = 0) -> Splits:
    """Load ``cfg.name`` and derive the training, validation and test splits of a run."""
    raw = load_raw(cfg)
    names = list(raw.class_names)
    train, test = raw.train, raw.test
    g = torch.Generator().manual_seed(seed)
    if len(names) < 2:
        raise HyperError(f"dataset {cfg.name!r} has {len(names)} class(es); a classifier needs "
                         "at least two (check data.args)")
    if cfg.classes:
        bad = [c for c in cfg.classes if not 0 <= c < len(names)]
        if bad:
            raise HyperError(f"data.classes: class {bad[0]} is not in 0..{len(names) - 1}")
        if len(set(cfg.classes)) != len(cfg.classes):
            raise HyperError(f"data.classes {cfg.classes} names a class twice")
        if len(cfg.classes) < 2:
            raise HyperError(f"data.classes {cfg.classes}: a classifier needs at least two "
                             "classes; there would be nothing to learn")
        train, test = select_classes(train, cfg.classes), select_classes(test, cfg.classes)
        names = [names[c] for c in cfg.classes]
    if cfg.imbalance is not None:
        train = apply_imbalance(train, cfg.imbalance, len(names), g)
    order = torch.randperm(len(train), generator=g)
    val = None
    if cfg.val_split > 0:
        n_val = int(round(cfg.val_split * len(train)))
        val, order = train.subset(order[:n_val].sort().values), order[n_val:]
    if cfg.subset is not None:
        order = order[: cfg.subset]
    train = train.subset(order.sort().values)
    if len(train) == 0:
        raise HyperError("the training set is empty after data.subset/classes/imbalance/"
                         "val_split")
    if len(test) == 0:
        raise HyperError("the test set is empty after data.classes; nothing to measure")
    if val is not None and len(val) == 0:
        raise HyperError(f"data.val_split {cfg.val_split} holds out no image (it rounds to 0 "
                         "of the training images); raise it or set it to 0")
    present = int(torch.unique(train.labels).numel())
    if present < 2:
        raise HyperError(f"the training set holds images of {present} class after "
                         "data.subset/classes/imbalance; a classifier needs at least two")
    return Splits(train, val, test, names, list(raw.mean), list(raw.std),
                  meta={"dataset": cfg.name})
