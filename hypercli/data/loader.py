"""Batches from in-memory splits: seeded shuffling (distributed-aware), batched augmentation.

Augmentation (pad-and-random-crop, horizontal flip) runs on whole batches on the batch's
device. Each image's crop offset and flip are drawn per epoch from (seed, epoch) and indexed
by the image's position in the dataset, so a run resumed in the middle of an epoch, or
split over any number of processes, sees exactly the same augmented images.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from hypercli.data.base import Split
from hypercli.errors import HyperError


def random_crop(x: torch.Tensor, pad: int, offsets: torch.Tensor) -> torch.Tensor:
    """Zero-pad by ``pad``, crop back to size at ``offsets`` (B, 2) in [0, 2 pad]. (B,C,H,W)."""
    if pad == 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    off = offsets.to(x.device)
    rows = (off[:, 0, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (off[:, 1, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bidx, rows, cols].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``flip`` (B,) is true."""
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)


def fits_on_device(split: Split, device: torch.device, share: float = 0.25) -> bool:
    """Whether the split's uint8 images take at most ``share`` of the free GPU memory."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return split.images.numel() <= share * free


class BatchLoader:
    """Iterate ``(images float [0,1], labels)`` batches of a split on ``device``.

    ``batch_size`` is the global batch: with ``world > 1`` processes each rank gets
    ``batch_size / world`` images of every batch, its shard of the epoch's permutation
    (``torch.utils.data.DistributedSampler``), so the optimization does not depend on the
    number of processes.
    """

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool = False,
                 augment: tuple[str, ...] = (), pad: int = 4, seed: int = 0,
                 device: torch.device | str = "cpu", on_device: bool = True,
                 rank: int = 0, world: int = 1, drop_last: bool = False) -> None:
        self.device = torch.device(device)
        keep = on_device and self.device.type != "cpu" and fits_on_device(split, self.device)
        self.images = split.images.to(self.device) if keep else split.images
        self.labels = split.labels.to(self.device) if keep else split.labels
        if self.device.type == "cuda" and not keep:  # page-locked for async host-to-device
            self.images, self.labels = self.images.pin_memory(), self.labels.pin_memory()
        if batch_size % world:
            raise HyperError(f"data.batch_size {batch_size} is the global batch; it must be "
                             f"divisible by the {world} processes")
        self.batch_size = batch_size // world
        self.shuffle, self.augment, self.pad = shuffle, augment, pad
        self.seed, self.drop_last, self.n = seed, drop_last, len(split)
        self.sampler = DistributedSampler(range(len(split)), num_replicas=world, rank=rank,
                                          shuffle=shuffle, seed=seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Shuffle and draw every image's augmentation for ``epoch``."""
        self.epoch = epoch
        self.sampler.set_epoch(epoch)
        g = torch.Generator().manual_seed(hash((self.seed, epoch)) & (2**62 - 1))
        self.offsets = torch.randint(0, 2 * self.pad + 1, (self.n, 2), generator=g)
        self.flips = torch.rand(self.n, generator=g) < 0.5

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the epoch's batches from batch index ``start`` on."""
        order = torch.tensor(list(iter(self.sampler)), dtype=torch.long)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            idx = idx.to(self.images.device)
            x = self.images[idx].to(self.device, non_blocking=True).float().div_(255.0)
            y = self.labels[idx].to(self.device, non_blocking=True)
            if "crop" in self.augment:
                x = random_crop(x, self.pad, self.offsets[idx.cpu()])
            if "flip" in self.augment:
                x = random_flip(x, self.flips[idx.cpu()])
            yield x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches(0)
