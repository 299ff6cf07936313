"""Verification sets written here byte for byte: images, .bin pickles, pairs.txt trees."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def face(index: int, size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """A smooth RGB image (H, W, 3) uint8 whose pixel (0, 0) holds ``index`` (R low byte,
    G high byte): every image differs and can be recognized after a lossless round trip."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([(xx * 16 + index * 7) % 256, (yy * 16 + index * 3) % 256,
                  np.full((h, w), (index * 11) % 256)], axis=2).astype(np.uint8)
    a[0, 0, 0], a[0, 0, 1] = index % 256, index // 256
    return a


def encode(a: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


class _Py2Pickle:
    """The bytes CPython 2's pickler writes at protocol 2 for lists of ``str`` and bools:
    SHORT_BINSTRING ``U`` (length < 256) or BINSTRING ``T`` for each string, NEWTRUE/NEWFALSE,
    MARK ... APPENDS batches of up to 1000 items (APPEND for a single one), a BINPUT after
    each container and string (Lib/pickle.py of Python 2.7: save_string, _batch_appends)."""

    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.memo = 0

    def put(self) -> None:
        self.out += b"q" + bytes([self.memo]) if self.memo < 256 else \
            b"r" + struct.pack("<I", self.memo)
        self.memo += 1

    def string(self, s: bytes) -> None:
        n = len(s)
        self.out += (b"U" + bytes([n]) if n < 256 else b"T" + struct.pack("<i", n)) + s
        self.put()

    def items(self, xs: list, write) -> None:
        self.out += b"]"  # EMPTY_LIST
        self.put()
        for start in range(0, len(xs), 1000):
            batch = xs[start : start + 1000]
            if len(batch) > 1:
                self.out += b"("  # MARK
            for x in batch:
                write(x)
            self.out += b"e" if len(batch) > 1 else b"a"  # APPENDS / APPEND

    def boolean(self, b: bool) -> None:
        self.out += b"\x88" if b else b"\x89"


def py2_bin(images: list[bytes], issame: list[bool]) -> bytes:
    """``pickle.dump((bins, issame_list), f, protocol=2)`` as Python 2 wrote it, with the
    images as ``str`` (raw bytes): a Python-2-era insightface ``.bin``."""
    p = _Py2Pickle()
    p.items(images, p.string)
    p.items(issame, p.boolean)
    p.out += b"\x86"  # TUPLE2
    p.put()
    p.out += b"."  # STOP
    return bytes(p.out)


# tiny made-up people; two folds of 2 same + 2 different pairs (header "2<TAB>2")
PAIRS_TXT_LINES = [
    "Ann_Lee\t1\t2", "Bo_Chan\t1\t3", "Ann_Lee\t1\tBo_Chan\t2", "Cy_Dorn\t1\tAnn_Lee\t3",
    "Cy_Dorn\t1\t2", "Ann_Lee\t2\t3", "Bo_Chan\t3\tCy_Dorn\t2", "Bo_Chan\t1\tCy_Dorn\t1",
]
PAIRS_TXT_SAME = [True, True, False, False] * 2
PEOPLE = {"Ann_Lee": 3, "Bo_Chan": 3, "Cy_Dorn": 2}


def write_lfw(root: Path, ext: str = "png", size: tuple[int, int] = (8, 8)) -> Path:
    """``root/pairs.txt`` (header ``2<TAB>2``) and ``root/images/Name/Name_%04d.<ext>``;
    image ``Name_k`` of person p is ``face(10 * p + k)``."""
    fmt = {"png": "PNG", "jpg": "JPEG"}[ext]
    for p, (name, count) in enumerate(PEOPLE.items()):
        d = root / "images" / name
        d.mkdir(parents=True, exist_ok=True)
        for k in range(1, count + 1):
            (d / f"{name}_{k:04d}.{ext}").write_bytes(encode(face(10 * p + k, size), fmt))
    path = root / "pairs.txt"
    path.write_bytes(("2\t2\n" + "\n".join(PAIRS_TXT_LINES) + "\n").encode())
    return path


def lfw_index(name: str, k: int) -> int:
    return 10 * list(PEOPLE).index(name) + k
