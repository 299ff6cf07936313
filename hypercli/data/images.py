"""``image_files``: image files named by path, decoded in DataLoader workers for inference.

Verification pair lists, LFW's ``pairs.txt`` and ``hyper embed`` name images by path rather
than by class. ``image_files(paths)`` turns such a list into a ``StreamSplit``
(``hypercli.data.stream``), so they are decoded like every streamed dataset (Pillow, worker
processes, a clear error naming a missing or corrupt file) and come out in the given order::

    split = image_files(["lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg", ...], channels=3)
    for x, _ in split.batches(256):     # uint8 (B, 3, H, W), the files' order
        ...

Images are used at their stored size (verification sets are aligned crops); a list of
images of different sizes fails at the first mixed batch with the two sizes named.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from torchvision.transforms import v2

from hypercli.data.readers.base import FilesReader
from hypercli.data.stream import StreamSplit
from hypercli.errors import HyperError


class ImageFiles(FilesReader):
    """The files ``root / paths[i]`` (label 0); every file is checked to exist up front."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]],
                 root: str | os.PathLike[str] | None = None, what: str = "image") -> None:
        self.root = Path(root) if root is not None else Path()
        self.files = [str(p) for p in paths]
        self._labels = [0] * len(self.files)
        missing = [f for f in self.files if not (self.root / f).is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise HyperError(f"{what} {self.root / missing[0]} does not exist{more}; every "
                             "listed image must be present (a skipped image would shift "
                             "the pairs and folds)")


def image_files(paths: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str] | None = None,
                channels: int = 3, workers: int = 2, what: str = "image") -> StreamSplit:
    """A ``StreamSplit`` of the image files ``root / p`` for ``p`` in ``paths``, in order,
    decoded to ``channels`` (1: gray, 3: RGB) at their stored size by ``workers`` processes.

    Raises ``HyperError`` naming the first missing file (``what`` names the kind of file
    in the message) or, when batches are read, the first unreadable one."""
    if not paths:
        raise HyperError(f"no {what} files given")
    return StreamSplit(ImageFiles(paths, root, what), v2.Identity(), channels, workers=workers)
