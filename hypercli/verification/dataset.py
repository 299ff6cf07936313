"""``VerificationSet``: the pairs of a face verification set, whatever file they came from.

Every reader (``bin.py``: insightface's ``.bin``; ``pairs.py``: LFW's ``pairs.txt`` and
``label path0 path1`` pair lists) ends in one of these: the set's images (decoded, or as
files under a root), the two images of each pair as indices into them, the same-identity
flag of each pair and the number of contiguous folds::

    vset = read_pairs_txt("lfw/pairs.txt", "lfw/lfw-112x96")   # files, not decoded yet
    vset = vset.decode(channels=3)                             # (N, 3, H, W) uint8, once
    vset.images[vset.pairs[i, 0]], vset.images[vset.pairs[i, 1]], vset.issame[i]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from hypercli.errors import HyperError


@dataclass
class VerificationSet:
    """P pairs over N images.

    - ``name``: what the set is called in reports (the file's stem: ``lfw``, ``cfp_fp``);
    - ``pairs``: (P, 2) int64, the indices of each pair's two images;
    - ``issame``: (P,) bool, True for a same-identity pair;
    - ``folds``: the number of contiguous folds (``metrics.contiguous_folds``): 10 for LFW,
      CFP-FP and AgeDB-30;
    - ``images``: (N, C, H, W) uint8 when decoded, else ``None``;
    - ``paths``: the N image files relative to ``root`` when read from a list, else ``None``;
    - ``source``: the file the set was read from, ``format`` its format (``bin``,
      ``pairs.txt``, ``pair-list``), which names the protocol it is scored by when none is
      asked for (``protocols.own_protocol``).
    """

    name: str
    pairs: np.ndarray
    issame: np.ndarray
    folds: int = 10
    images: torch.Tensor | None = None
    paths: list[str] | None = None
    root: Path | None = None
    source: str = ""
    format: str = ""

    def __post_init__(self) -> None:
        self.pairs = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
        self.issame = np.asarray(self.issame, dtype=bool).reshape(-1)
        if len(self.pairs) != len(self.issame):
            raise HyperError(f"{self.name}: {len(self.pairs)} pairs but {len(self.issame)} "
                             "same/different flags")
        if self.images is None and self.paths is None:
            raise HyperError(f"{self.name}: a verification set needs images or image paths")
        n = self.num_images
        if len(self.pairs) and (self.pairs.min() < 0 or self.pairs.max() >= n):
            raise HyperError(f"{self.name}: a pair names image {int(self.pairs.max())} of {n}")

    def __len__(self) -> int:
        return len(self.issame)

    @property
    def num_images(self) -> int:
        return len(self.images) if self.images is not None else len(self.paths or [])

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(H, W) of the decoded images, ``None`` before ``decode``."""
        return None if self.images is None else (int(self.images.shape[2]),
                                                 int(self.images.shape[3]))

    def decode(self, channels: int = 3, workers: int = 2, batch_size: int = 256
               ) -> VerificationSet:
        """This set with its image files decoded into ``images`` (N, channels, H, W) uint8, in
        order (``hypercli.data.image_files``); a decoded set is returned as it is. Raises
        ``HyperError`` naming an unreadable file, or two images of different sizes."""
        if self.images is not None:
            return self
        from hypercli.data.images import image_files

        split = image_files(self.paths or [], self.root, channels, workers, what="image")
        chunks = [x for x, _ in split.batches(batch_size)]
        sizes = sorted({tuple(x.shape[1:]) for x in chunks})
        if len(sizes) > 1:
            raise HyperError(f"{self.name}: images of different sizes ({sizes[0]} and "
                             f"{sizes[1]}); a verification set holds aligned crops of one size")
        return replace(self, images=torch.cat(chunks))
