"""Batches: augmentation against per-image loops, resumable seeding, distributed shards."""

from __future__ import annotations

import torch

from hypercli.data import BatchLoader, Split
from hypercli.data.loader import random_crop


def make_split(n=50, c=2, s=8):
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8, generator=g),
                 torch.arange(n) % 5)


def test_random_crop_matches_per_image_loop():
    x = torch.rand(6, 3, 8, 8)
    off = torch.randint(0, 5, (6, 2), generator=torch.Generator().manual_seed(3))
    out = random_crop(x, 2, off)
    for i in range(6):
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        r, c = off[i].tolist()
        assert torch.equal(out[i], padded[:, r : r + 8, c : c + 8])


def test_augmentation_follows_the_image_not_the_batch():
    """The same image gets the same crop and flip whatever batch or process it lands in."""
    split = make_split(n=48)
    one = BatchLoader(split, 12, shuffle=True, augment=("crop", "flip"), seed=5)
    two = [BatchLoader(split, 12, shuffle=True, augment=("crop", "flip"), seed=5, rank=r,
                       world=2) for r in range(2)]
    for loader in (one, *two):
        loader.set_epoch(2)
    a = torch.cat([x for x, _ in one])
    b = torch.cat([x for loader in two for x, _ in loader])
    key = lambda t: sorted(tuple(im.flatten().tolist()) for im in t)  # noqa: E731
    assert key(a) == key(b)


def test_batches_cover_epoch_and_resume_identically():
    split = make_split()
    loader = BatchLoader(split, 8, shuffle=True, augment=("crop", "flip"), seed=1)
    loader.set_epoch(3)
    full = list(loader)
    assert sum(len(y) for _, y in full) == 50
    assert all(0 <= x.min() and x.max() <= 1 for x, _ in full)
    again = BatchLoader(split, 8, shuffle=True, augment=("crop", "flip"), seed=1)
    again.set_epoch(3)
    tail = list(again.batches(4))
    for (xa, ya), (xb, yb) in zip(full[4:], tail):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    loader.set_epoch(4)
    assert not torch.equal(next(iter(loader))[1], full[0][1])


def test_distributed_shards_partition_the_epoch():
    split = make_split(n=48)
    seen = []
    for rank in range(2):
        loader = BatchLoader(split, 12, shuffle=True, seed=0, rank=rank, world=2)
        loader.set_epoch(0)
        for x, _ in loader:
            seen.append((x * 255).round().to(torch.uint8))
    images = torch.cat(seen)
    assert len(images) == 48
    flat = {tuple(im.flatten().tolist()) for im in images}
    assert flat == {tuple(im.flatten().tolist()) for im in split.images}
