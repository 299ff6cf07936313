"""Datasets streamed from disk: decoding in DataLoader workers, seeded order, sharding.

Every format (``hypercli.data.readers``) ends in the same two pieces:

- ``StreamSplit``: one split (a reader plus its transform); ``batches(batch_size)`` yields
  uint8 ``(B, C, H, W)`` images and int64 ``(B,)`` labels in a fixed order for evaluation,
  ``head(n)`` keeps its first ``n`` images in memory (attacks, feature plots);
- ``StreamLoader``: the training batches of one rank, the same interface as the in-memory
  ``BatchLoader`` (``set_epoch``, ``len``, ``batches(start)``), float images in [0, 1] on
  the device.

Images are decoded by Pillow (libjpeg-turbo, libpng; torchvision's own decoders are
deprecated since 0.29) in ``data.workers`` persistent worker processes with prefetching and,
on CUDA, pinned memory, transformed by ``hypercli.data.transforms`` (torchvision transforms
v2, on the PIL image as torchvision's ImageNet reference does) and batched as uint8.

Order and augmentation are seeded: an index format (folder, list, recordio) draws each
epoch's permutation with torch's ``DistributedSampler`` from ``(seed, epoch)``, so every
image is seen once per epoch over all ranks (the sampler repeats up to ``world - 1``
images to even out the ranks), and each image's augmentation is drawn from
``(seed, epoch, index)``: a run resumed mid-epoch sees exactly the batches it would have.
WebDataset shards are shuffled per epoch from ``(seed, epoch)`` and dealt to the
``ranks x workers`` readers (or, with fewer shards than readers, every reader keeps every
n-th sample of all shards), each reader shuffles its samples in a seeded buffer and stops
at its share of ``data.samples_per_epoch`` (read again from a reshuffled start when its
shards run out); an epoch sees every image exactly once when the shards split evenly over
the readers, as ``hyper data export`` writes them. Mid-epoch resumes of shards replay
(read and drop) the epoch's first batches.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    Sampler,
    get_worker_info,
)

from hypercli.data.base import Split
from hypercli.data.readers.base import IndexReader, Reader, ShardReader
from hypercli.errors import HyperError

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def decode_pil(data: bytes, channels: int | None = None) -> Any:
    """Encoded image bytes -> a loaded PIL image, in mode L (1 channel) or RGB (3 channels);
    ``channels=None`` keeps gray images gray. Raises on undecodable data."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    if channels is None:
        channels = 1 if img.mode in GRAY_MODES else 3
    mode = "L" if channels == 1 else "RGB"
    return img if img.mode == mode else img.convert(mode)


def to_uint8(img: Any) -> torch.Tensor:
    """A PIL image -> uint8 (C, H, W) (a tensor passes through)."""
    from torchvision.transforms.v2.functional import pil_to_tensor

    return img if isinstance(img, torch.Tensor) else pil_to_tensor(img)


def decode(data: bytes, channels: int | None = None) -> torch.Tensor:
    """Encoded image bytes -> uint8 (channels, H, W); raises on undecodable data."""
    return to_uint8(decode_pil(data, channels))


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (no Python ``hash``: it is salted per process for str)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & (2**63 - 1)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Draw a sample's augmentation (torch's CPU generator, which torchvision's transforms
    use) from ``seed``; in the main process its state is restored afterwards. Seeds only
    the CPU generator: ``torch.manual_seed`` also seeds every accelerator and costs ~100x."""
    gen = torch.default_generator
    if get_worker_info() is None:
        state = gen.get_state()
        gen.manual_seed(seed)
        try:
            yield
        finally:
            gen.set_state(state)
    else:
        gen.manual_seed(seed)
        yield


@dataclass
class _Bad:
    """A sample that could not be read: ``skippable`` when it is a corrupt image."""

    message: str
    skippable: bool


class _Collate:
    """Stack ``(image, label)`` samples; drop or report unreadable ones."""

    def __init__(self, skip_corrupt: bool) -> None:
        self.skip = skip_corrupt

    def __call__(self, samples: list[Any]) -> tuple[Any, Any, int, str | None]:
        bad = [s for s in samples if isinstance(s, _Bad)]
        good = [s for s in samples if not isinstance(s, _Bad)]
        fatal = [b for b in bad if not (b.skippable and self.skip)]
        if fatal:
            return None, None, 0, fatal[0].message
        if not good:
            return None, None, len(bad), None
        shapes = {tuple(s[0].shape) for s in good}
        if len(shapes) > 1:
            a, b = sorted(shapes)[:2]
            return None, None, 0, (f"images of different sizes in one batch ({a} and {b}); "
                                   "set data.image_size to resize and crop them")
        x = torch.stack([s[0] for s in good])
        y = torch.tensor([s[1] for s in good], dtype=torch.long)
        return x, y, len(bad), None


def _load(data: bytes, label: int, where: Any, channels: int, transform: Any,
          seed: int | None) -> Any:
    """Decode and transform one sample; ``where()`` names it in an error."""
    try:
        img = decode_pil(data, channels)
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError on bad bytes
        return _Bad(f"{where()}: not a readable image ({str(exc).splitlines()[0][:120]}); "
                    "replace the file or set data.skip_corrupt=true to skip such images", True)
    if seed is None:
        return to_uint8(transform(img)), label
    with _seeded(seed):
        return to_uint8(transform(img)), label


class _IndexDataset(Dataset):
    """Map-style: key ``i`` (evaluation) or ``(epoch, i)`` (training, seeded augmentation)."""

    def __init__(self, reader: IndexReader, transform: Any, channels: int, seed: int) -> None:
        self.reader, self.transform, self.channels, self.seed = reader, transform, channels, seed

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, key: Any) -> Any:
        epoch, i = key if isinstance(key, tuple) else (None, key)
        try:
            data, label = self.reader.read(i)
        except HyperError as exc:
            return _Bad(str(exc), False)
        except OSError as exc:
            return _Bad(f"{self.reader.describe(i)}: cannot read ({exc})", False)
        seed = None if epoch is None else _mix(self.seed, epoch, i)
        return _load(data, label, lambda: self.reader.describe(i), self.channels,
                     self.transform, seed)


class _EpochSampler(Sampler):
    """This rank's share of the epoch's seeded permutation, from sample ``start`` on."""

    def __init__(self, n: int, rank: int, world: int, shuffle: bool, seed: int) -> None:
        self.inner = DistributedSampler(range(n), num_replicas=world, rank=rank,
                                        shuffle=shuffle, seed=seed)
        self.epoch, self.start = 0, 0

    def set(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start
        self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in islice(iter(self.inner), self.start, None):
            yield self.epoch, i


class _ShardStream(IterableDataset):
    """The samples of tar shards for one (rank, worker); see the module docstring."""

    def __init__(self, reader: ShardReader, transform: Any, channels: int, seed: int,
                 train: bool, buffer: int, rank: int = 0, world: int = 1,
                 per_rank: int = 0) -> None:
        self.shards = [str(s.path) for s in reader.shards]
        self.transform, self.channels, self.seed = transform, channels, seed
        self.train, self.buffer, self.rank, self.world, self.per_rank = (
            train, buffer, rank, world, per_rank)
        self.epoch = torch.zeros(1, dtype=torch.long).share_memory_()  # set by the main process

    def _pass(self, shards: list[str], slot: int, slots: int) -> Iterator[dict]:
        from webdataset.tariterators import tarfile_samples

        mine = shards[slot::slots] if len(shards) >= slots else shards
        every = 1 if len(shards) >= slots else slots
        for j, sample in enumerate(tarfile_samples({"url": s} for s in mine)):
            if j % every == (0 if every == 1 else slot):
                yield sample

    def _cycle(self, slot: int, slots: int, epoch: int) -> Iterator[Any]:
        """Passes over the shards, each in a new seeded order and sample buffer (flushed at
        the end of a pass, so the first pass holds every sample of this reader once)."""
        import webdataset as wds

        for rep in range(1_000_000):
            order = list(self.shards)
            random.Random(_mix(self.seed, epoch, rep)).shuffle(order)
            rng = random.Random(_mix(self.seed, epoch, slot, rep, 7))
            got = 0
            for sample in wds.shuffle(self.buffer, min(self.buffer, 100), rng=rng)(
                    self._pass(order, slot, slots)):
                got += 1
                yield sample
            if got == 0:
                yield _Bad(f"shards {self.shards[0]} ... hold no samples for reader {slot} of "
                           f"{slots}", False)
                return

    def _sample(self, s: Any, seed: int | None) -> Any:
        if isinstance(s, _Bad):
            return s
        from hypercli.data.readers.wds import IMAGE_KEYS

        where = f"{s.get('__url__')}: sample {s.get('__key__')}"
        key = next((k for k in IMAGE_KEYS if k in s), None)
        if key is None or "cls" not in s:
            return _Bad(f"{where} lacks an image ({'/'.join(IMAGE_KEYS)}) or a .cls member",
                        False)
        try:
            label = int(bytes(s["cls"]).decode().strip())
        except ValueError:
            return _Bad(f"{where}: .cls holds no integer class", False)
        return _load(s[key], label, lambda: f"{where}.{key}", self.channels, self.transform,
                     seed)

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        w, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        epoch = int(self.epoch[0])
        slot, slots = self.rank * nw + w, self.world * nw
        try:
            if self.train:
                quota = self.per_rank // nw + (1 if w < self.per_rank % nw else 0)
                for n, s in enumerate(islice(self._cycle(slot, slots, epoch), quota)):
                    yield self._sample(s, _mix(self.seed, epoch, slot, n))
            else:
                for s in self._pass(self.shards, slot, slots):
                    yield self._sample(s, None)
        except HyperError as exc:
            yield _Bad(str(exc), False)
        except Exception as exc:  # a truncated or broken tar file
            yield _Bad(f"reading shards {self.shards[0]} ...: {exc}", False)


def _loader(dataset: Any, batch_size: int, workers: int, device: torch.device,
            skip_corrupt: bool, sampler: Any = None) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      persistent_workers=workers > 0, prefetch_factor=2 if workers else None,
                      pin_memory=device.type == "cuda", collate_fn=_Collate(skip_corrupt),
                      worker_init_fn=_worker_init if workers else None)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # the workers are the parallelism


def _checked(batches: Iterator[tuple], counter: list[int]) -> Iterator[tuple]:
    for x, y, skipped, error in batches:
        if error is not None:
            raise HyperError(error)
        counter[0] += skipped
        if x is not None:
            yield x, y


@dataclass
class StreamSplit:
    """One split on disk: a reader, its transform, the decoding settings."""

    reader: Reader
    transform: Any
    channels: int
    workers: int = 2
    skip_corrupt: bool = False
    seed: int = 0
    shuffle_buffer: int = 1000
    _eval: dict[int, DataLoader] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.reader)

    def dataset(self, train: bool, transform: Any = None, rank: int = 0, world: int = 1,
                per_rank: int = 0) -> Dataset:
        t = transform or self.transform
        if isinstance(self.reader, IndexReader):
            return _IndexDataset(self.reader, t, self.channels, self.seed)
        return _ShardStream(self.reader, t, self.channels, self.seed, train,
                            self.shuffle_buffer, rank, world, per_rank)

    def batches(self, batch_size: int = 1000) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """uint8 (B, C, H, W) images and (B,) labels of the whole split, on the CPU."""
        if batch_size not in self._eval:
            self._eval[batch_size] = _loader(self.dataset(False), batch_size, self.workers,
                                             torch.device("cpu"), self.skip_corrupt)
        return _checked(iter(self._eval[batch_size]), [0])

    def head(self, n: int) -> Split:
        """The first ``n`` images (evaluation transform) as an in-memory split."""
        xs, ys, have = [], [], 0
        for x, y in self.batches(min(n, 1000)):
            xs.append(x)
            ys.append(y)
            have += len(y)
            if have >= n:
                break
        if not xs:
            raise HyperError("the split holds no readable images")
        return Split(torch.cat(xs)[:n], torch.cat(ys)[:n])


class StreamLoader:
    """Training batches of one rank (``batch_size`` is the global batch, as in BatchLoader)."""

    def __init__(self, split: StreamSplit, batch_size: int, *, seed: int = 0,
                 device: torch.device | str = "cpu", rank: int = 0, world: int = 1,
                 samples_per_epoch: int | None = None) -> None:
        if batch_size % world:
            raise HyperError(f"data.batch_size {batch_size} is the global batch; it must be "
                             f"divisible by the {world} processes")
        self.device = torch.device(device)
        self.batch_size = bs = batch_size // world
        self.index = isinstance(split.reader, IndexReader)
        self.skipped, self.epoch = 0, 0
        if self.index:
            if samples_per_epoch is not None:
                raise HyperError("data.samples_per_epoch applies to webdataset shards; an "
                                 "index format's epoch is its whole training split")
            self.sampler = _EpochSampler(len(split), rank, world, True, seed)
            ds = split.dataset(True)
            self.n_batches = math.ceil(len(self.sampler) / bs)
        else:
            per_rank = (samples_per_epoch or len(split)) // world
            if per_rank == 0:
                raise HyperError(f"{len(split)} samples cannot feed {world} processes")
            self.sampler = None
            ds = split.dataset(True, rank=rank, world=world, per_rank=per_rank)
            nw = max(split.workers, 1)
            self.n_batches = sum(math.ceil((per_rank // nw + (w < per_rank % nw)) / bs)
                                 for w in range(nw))
        self.ds = ds
        self.loader = _loader(ds, bs, split.workers, self.device, split.skip_corrupt,
                              self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.skipped = epoch, 0

    def __len__(self) -> int:
        return self.n_batches

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches from batch ``start`` on: float [0, 1] images, labels."""
        if self.index:
            self.sampler.set(self.epoch, start * self.batch_size)
            skip = 0
        else:
            self.ds.epoch[0] = self.epoch
            skip = start
        counter = [0]
        try:
            for b, (x, y) in enumerate(_checked(iter(self.loader), counter)):
                if b < skip:
                    continue
                yield (x.to(self.device, non_blocking=True).float().div_(255.0),
                       y.to(self.device, non_blocking=True))
        finally:
            self.skipped += counter[0]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches(0)


@dataclass
class StreamData:
    """What ``build_data`` returns for a format on disk; mirrors ``Splits``."""

    train: StreamSplit
    val: StreamSplit | None
    test: StreamSplit | None  # None: a training set scored on verification sets only
    class_names: list[str]
    mean: list[float]
    std: list[float]
    in_channels: int
    image_size: int | tuple[int, int]  # S (square) or (H, W)
    samples_per_epoch: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def train_loader(self, cfg: Any, seed: int, device: torch.device, rank: int = 0,
                     world: int = 1) -> StreamLoader:
        return StreamLoader(self.train, cfg.batch_size, seed=seed, device=device, rank=rank,
                            world=world, samples_per_epoch=cfg.samples_per_epoch)
