"""A split of an image dataset held in memory as tensors, and the bundle of splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Split:
    """Images (N, C, H, W) uint8 in [0, 255] and labels (N,) int64 in [0, num_classes)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.dim() == 4, self.images.shape
        assert self.labels.dtype == torch.int64 and len(self.labels) == len(self.images)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])

    def floats(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Images ``start:stop`` as float32 in [0, 1]."""
        return self.images[start:stop].float().div_(255.0)


@dataclass
class Splits:
    """What ``load_data`` returns: train/val/test splits plus what a model needs to know."""

    train: Split
    val: Split | None
    test: Split
    class_names: list[str]
    mean: list[float]  # per channel, of the full training set in [0, 1]
    std: list[float]
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def image_size(self) -> int | tuple[int, int]:
        """``S`` for S x S images (every in-memory dataset), ``(H, W)`` otherwise."""
        h, w = self.train.images.shape[-2:]
        return int(h) if h == w else (int(h), int(w))

    def train_loader(self, cfg, seed: int, device: torch.device | str, rank: int = 0,
                     world: int = 1):
        """The shuffled, augmented training batches of this rank (``BatchLoader``)."""
        from hypercli.data.loader import BatchLoader

        return BatchLoader(self.train, cfg.batch_size, shuffle=True, augment=tuple(cfg.augment),
                           pad=cfg.pad, seed=seed, device=device, on_device=cfg.on_device,
                           rank=rank, world=world, drop_last=False)


@dataclass
class RawDataset:
    """What a registered dataset builder returns, before subsets, splits and imbalance."""

    train: Split
    test: Split
    class_names: list[str]
    mean: list[float]
    std: list[float]
