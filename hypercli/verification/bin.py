"""insightface's ``.bin`` verification sets (``lfw.bin``, ``cfp_fp.bin``, ``agedb_30.bin``).

The format (insightface ``recognition/arcface_torch/eval/verification.py``, ``load_bin``;
faces.md §2) is a pickle of ``(bins, issame_list)``: 2P encoded images (JPEG or PNG, 112x112
aligned crops), the two images of pair i at 2i and 2i+1, and P same-identity bools. Packs
made under Python 2 hold the images as raw byte strings (read with ``encoding="bytes"``);
newer packs hold 1-D uint8 numpy arrays from an image encoder. LFW has 6000 pairs, CFP-FP
7000, AgeDB-30 6000; insightface scores them in 10 contiguous folds.

The pickle is read by ``SafeUnpickler``, which rebuilds only numpy's uint8 arrays and
refuses every other class or function (a pickle can name any callable and have it run while
loading; this reader never calls one from the file)::

    vset = read_bin("lfw.bin")     # VerificationSet, images (12000, 3, 112, 112) uint8
"""

from __future__ import annotations

import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from hypercli.data.stream import decode
from hypercli.errors import HyperError
from hypercli.verification.dataset import VerificationSet


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``, which Python 3 pickles (protocols 0-2) name to write
    ``bytes`` as ``encode(latin-1 text, "latin1")``: it turns that text back into the bytes
    and does nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is admitted only for latin-1 bytes")
    return text.encode("latin-1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """What numpy's uint8 arrays need to be rebuilt, under numpy 1 and numpy 2 module names:
    ``_reconstruct`` + ``ndarray`` + ``dtype`` (pickle protocols 2-4) and ``_frombuffer`` +
    ``dtype`` (protocol 5, Python >= 3.8's highest)."""
    try:
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy 1
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    out: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                       ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        out[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return out


class SafeUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose ``find_class`` admits numpy's array rebuilders only
    (``_numpy_globals``) and ``_codecs.encode`` as a latin-1 stand-in (``_latin1_bytes``);
    any other global is a ``HyperError`` "refusing to load FILE: it asks for module.name",
    raised before anything runs."""

    def __init__(self, file: Any, where: str, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.where = where
        self.admitted = _numpy_globals()
        self.admitted[("_codecs", "encode")] = _latin1_bytes

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.admitted[(module, name)]
        except KeyError:
            raise HyperError(f"refusing to load {self.where}: it asks for {module}.{name}, and "
                             "an insightface .bin holds only images and bools") from None

    def persistent_load(self, pid: Any) -> Any:
        raise HyperError(f"refusing to load {self.where}: it asks for a persistent object")


def _image_bytes(item: Any, i: int, where: str) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 1:
        return item.tobytes()
    what = (f"a {item.dtype} array of shape {item.shape}" if isinstance(item, np.ndarray)
            else f"a {type(item).__name__}")
    raise HyperError(f"{where}: image {i} is {what}, not encoded image bytes (bytes or a "
                     "1-D uint8 array)")


def _flags(issame: Any, where: str) -> np.ndarray:
    if isinstance(issame, np.ndarray) and issame.dtype == np.bool_ and issame.ndim == 1:
        return issame.copy()
    if isinstance(issame, (list, tuple)):
        bad = next((i for i, v in enumerate(issame) if not isinstance(v, (bool, np.bool_))),
                   None)
        if bad is None:
            return np.array(issame, dtype=bool)
        _bad_flag(where, bad, issame[bad])
    _bad_flag(where, None, issame)


def _bad_flag(where: str, i: int | None, value: Any) -> NoReturn:
    at = f" {i}" if i is not None else "s"
    raise HyperError(f"{where}: same-identity flag{at} is a {type(value).__name__}, not a bool "
                     "(an insightface .bin is (images, list of bools))")


def load_bin_pickle(path: str | os.PathLike[str]) -> tuple[list[bytes], np.ndarray]:
    """The encoded images (2P bytes objects) and same flags (P,) bool of a ``.bin``, read
    with ``SafeUnpickler``. Raises ``HyperError`` (one line) for a missing, truncated or
    malformed file, or one that asks for anything but bytes, bools, lists, tuples and uint8
    arrays."""
    p = Path(path)
    if not p.is_file():
        raise HyperError(f"{p} does not exist")
    try:
        with open(p, "rb") as f:
            obj = SafeUnpickler(f, str(p), encoding="bytes").load()
    except HyperError:
        raise
    except Exception as exc:  # pickle raises many kinds on bad bytes (EOF, struct, value...)
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise HyperError(f"{p} is not a readable insightface .bin (truncated or corrupt?): "
                         f"{type(exc).__name__}: {first}") from None
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2
            and isinstance(obj[0], (list, tuple))):
        raise HyperError(f"{p} is not an insightface .bin: it holds a {type(obj).__name__}, "
                         "not the pair (list of encoded images, list of same flags)")
    bins, issame = obj
    flags = _flags(issame, str(p))
    if len(bins) != 2 * len(flags):
        raise HyperError(f"{p}: {len(bins)} images for {len(flags)} pairs; a .bin holds two "
                         "images per pair")
    return [_image_bytes(b, i, str(p)) for i, b in enumerate(bins)], flags


def read_bin(path: str | os.PathLike[str], channels: int = 3, workers: int = 2,
             folds: int = 10) -> VerificationSet:
    """An insightface ``.bin`` as a decoded ``VerificationSet``: images (2P, channels, H, W)
    uint8 (RGB for 3 channels, as insightface decodes them; 112x112 in the published sets),
    pair i = images 2i and 2i+1, ``folds`` contiguous folds (10, as insightface).

    Images are decoded by Pillow (``hypercli.data.stream.decode``) in ``workers`` threads.
    Raises ``HyperError`` for an unreadable file (``load_bin_pickle``), an image that does
    not decode (its index named) or images of different sizes."""
    p = Path(path)
    bins, flags = load_bin_pickle(p)
    if not len(flags):
        raise HyperError(f"{p} holds no pairs")

    def one(i: int) -> torch.Tensor:
        try:
            return decode(bins[i], channels)
        except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError
            first = (str(exc).splitlines() or [""])[0][:120]
            raise HyperError(f"{p}: image {i} is not a readable image ({first})") from None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        images = list(pool.map(one, range(len(bins))))
    sizes = {tuple(x.shape) for x in images}
    if len(sizes) > 1:
        first = next(i for i, x in enumerate(images) if x.shape != images[0].shape)
        raise HyperError(f"{p}: image {first} is {tuple(images[first].shape)}, image 0 "
                         f"{tuple(images[0].shape)}; a .bin holds aligned crops of one size")
    pairs = np.arange(len(bins), dtype=np.int64).reshape(-1, 2)
    return VerificationSet(name=p.stem, pairs=pairs, issame=flags, folds=folds,
                           images=torch.stack(images), source=str(p), format="bin")
