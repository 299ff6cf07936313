"""Batches from in-memory splits: seeded shuffling (distributed-aware), batched augmentation.

Augmentation (pad-and-random-crop, horizontal flip) runs on whole batches on the batch's
device. Every batch's randomness is seeded from (seed, epoch, batch index), so a run
resumed in the middle of an epoch sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from hypercli.data.base import Split


def random_crop(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` and crop back to size at a random offset per image. (B,C,H,W)."""
    if pad == 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    off = torch.randint(0, 2 * pad + 1, (b, 2), generator=g).to(x.device)
    rows = (off[:, 0, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (off[:, 1, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bidx, rows, cols].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


class BatchLoader:
    """Iterate ``(images float [0,1], labels)`` batches of a split on ``device``.

    With ``world > 1`` each rank gets its shard of the epoch's permutation
    (``torch.utils.data.DistributedSampler``, padded to equal length).
    """

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool = False,
                 augment: tuple[str, ...] = (), pad: int = 4, seed: int = 0,
                 device: torch.device | str = "cpu", on_device: bool = True,
                 rank: int = 0, world: int = 1, drop_last: bool = False) -> None:
        self.device = torch.device(device)
        store = self.device if on_device else torch.device("cpu")
        self.images = split.images.to(store)
        self.labels = split.labels.to(store)
        self.batch_size, self.shuffle, self.augment, self.pad = batch_size, shuffle, augment, pad
        self.seed, self.drop_last, self.epoch = seed, drop_last, 0
        self.sampler = DistributedSampler(range(len(split)), num_replicas=world, rank=rank,
                                          shuffle=shuffle, seed=seed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the epoch's batches from batch index ``start`` on."""
        order = torch.tensor(list(iter(self.sampler)), dtype=torch.long)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size].to(self.images.device)
            x = self.images[idx].to(self.device, non_blocking=True).float().div_(255.0)
            y = self.labels[idx].to(self.device, non_blocking=True)
            if self.augment:
                g = torch.Generator().manual_seed(hash((self.seed, self.epoch, b)) & (2**62 - 1))
                if "crop" in self.augment:
                    x = random_crop(x, self.pad, g)
                if "flip" in self.augment:
                    x = random_flip(x, g)
            yield x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches(0)
