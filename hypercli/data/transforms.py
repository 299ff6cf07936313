"""Transforms of streamed images (torchvision transforms v2 on PIL images or uint8 tensors).

Training: ``random-resized-crop`` is ImageNet's RandomResizedCrop (scale 0.08-1, ratio
3/4-4/3; Szegedy et al. 2015, torchvision's reference recipe) to ``data.image_size``;
``crop`` is the small-image pad-and-crop (``data.pad`` zeros) and ``flip`` the horizontal
mirror, as in the in-memory path. Evaluation: resize the short side to
``image_size / crop_pct`` and center-crop ``image_size`` (timm's ``crop_pct``, 0.875 for
ImageNet); without ``data.image_size`` images are used at their stored size.
"""

from __future__ import annotations

import math

from torchvision.transforms import v2

from hypercli.errors import HyperError
from hypercli.recipe import DataConfig


def _compose(t: list) -> v2.Transform:
    return v2.Compose(t) if t else v2.Identity()


def train_transform(cfg: DataConfig) -> v2.Transform:
    size, t = cfg.image_size, []
    if "random-resized-crop" in cfg.augment:
        if size is None:
            raise HyperError("data.augment random-resized-crop needs data.image_size "
                             "(e.g. 224)")
        t.append(v2.RandomResizedCrop(size, antialias=True))
    elif size is not None:
        t.append(_Fit(size))
    if "crop" in cfg.augment and cfg.pad > 0:
        if size is None:
            t.append(_PadCrop(cfg.pad))
        else:
            t.append(v2.RandomCrop(size, padding=cfg.pad, fill=0))
    if "flip" in cfg.augment:
        t.append(v2.RandomHorizontalFlip())
    return _compose(t)


def eval_transform(cfg: DataConfig) -> v2.Transform:
    size = cfg.image_size
    if size is None:
        return v2.Identity()
    return _compose([v2.Resize(math.floor(size / cfg.crop_pct), antialias=True),
                       v2.CenterCrop(size)])


class _Fit(v2.Transform):
    """Resize the short side to ``size`` and center-crop ``size`` x ``size``; images of that
    size already pass untouched (no resampling cost)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.fit = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])

    def forward(self, x):
        return x if list(v2.functional.get_size(x)) == [self.size] * 2 else self.fit(x)


class _PadCrop(v2.Transform):
    """Pad by ``pad`` zeros and crop back to the input's own size at a random offset."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x):  # a PIL image or (C, H, W) uint8
        h, w = v2.functional.get_size(x)
        return v2.RandomCrop((h, w), padding=self.pad, fill=0)(x)
