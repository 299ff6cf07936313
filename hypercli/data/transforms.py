"""Transforms of streamed images (torchvision transforms v2 on PIL images or uint8 tensors).

Training: ``random-resized-crop`` is ImageNet's RandomResizedCrop (scale 0.08-1, ratio
3/4-4/3; Szegedy et al. 2015, torchvision's reference recipe) to ``data.image_size``;
``crop`` is the small-image pad-and-crop (``data.pad`` zeros) and ``flip`` the horizontal
mirror, as in the in-memory path. Evaluation: resize the short side to
``image_size / crop_pct`` and center-crop ``image_size`` (timm's ``crop_pct``, 0.875 for
ImageNet); without ``data.image_size`` images are used at their stored size.

``data.image_size`` is ``S`` (S x S) or ``[H, W]`` (SphereFace's 112x96 faces). Resizing
scales an image, keeping its aspect ratio, to the smallest size that covers the target
(for a square target: the short side to ``S``, as ``v2.Resize(S)``), then center-crops.
"""

from __future__ import annotations

import math

from torchvision.transforms import v2

from hypercli.checks import image_hw
from hypercli.errors import HyperError
from hypercli.recipe import DataConfig


def _compose(t: list) -> v2.Transform:
    return v2.Compose(t) if t else v2.Identity()


def _size(cfg: DataConfig) -> tuple[int, int] | None:
    return None if cfg.image_size is None else image_hw(cfg.image_size, "data.image_size")


def train_transform(cfg: DataConfig) -> v2.Transform:
    size, t = _size(cfg), []
    if "random-resized-crop" in cfg.augment:
        if size is None:
            raise HyperError("data.augment random-resized-crop needs data.image_size "
                             "(e.g. 224)")
        t.append(v2.RandomResizedCrop(size, antialias=True))  # (H, W)
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
    size = _size(cfg)
    if size is None:
        return v2.Identity()
    return _Fit(size, cfg.crop_pct)


def cover(hw: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The size (H', W') that an (H, W) image is resized to, keeping its aspect ratio, to
    cover ``target``: the side needing the larger scale gets its target exactly, the other
    ``int(side x scale)`` (torchvision's short-side rule, so a square target is
    ``v2.Resize(S)``), at least its target."""
    (h, w), (th, tw) = hw, target
    if th * w >= tw * h:  # th / h >= tw / w: the height binds
        return th, max(tw, int(th * w / h))
    return max(th, int(tw * h / w)), tw


class _Fit(v2.Transform):
    """Resize (antialiased) to cover ``size / crop_pct`` (see ``cover``) and center-crop
    ``size`` = (H, W); an image already at the resize target is not resampled."""

    def __init__(self, size: tuple[int, int], crop_pct: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.target = size if crop_pct == 1.0 else (math.floor(size[0] / crop_pct),
                                                    math.floor(size[1] / crop_pct))

    def forward(self, x):  # a PIL image or (C, H, W) uint8
        hw = tuple(v2.functional.get_size(x))
        new = cover(hw, self.target)
        if new != hw:
            x = v2.functional.resize(x, list(new), antialias=True)
        return x if new == self.size else v2.functional.center_crop(x, list(self.size))


class _PadCrop(v2.Transform):
    """Pad by ``pad`` zeros and crop back to the input's own size at a random offset."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x):  # a PIL image or (C, H, W) uint8
        h, w = v2.functional.get_size(x)
        return v2.RandomCrop((h, w), padding=self.pad, fill=0)(x)
