"""``recordio``: MXNet RecordIO ``train.rec`` + ``train.idx`` (+ ``property``), as insightface
ships face sets (MS1M, Glint360K, WebFace), read from the format directly.

mxnet is retired and breaks on current numpy, and no maintained library reads the format,
so the reader is written here from dmlc-core's ``recordio.h`` (the byte layout is also in
the project's faces.md, section 1):

- a record is uint32 magic ``0xCED7230A`` (little-endian), uint32 ``lrec`` with
  ``cflag = lrec >> 29`` and ``length = lrec & (2**29 - 1)``, then ``length`` payload bytes
  padded to a multiple of 4. ``cflag`` 0 is a whole record; 1, 2, 3 are the first, middle
  and last piece of a payload the writer split where the magic word occurred: the reader
  re-inserts the 4 magic bytes between pieces;
- a payload is mxnet's ``IRHeader`` ``<IfQQ`` (flag, label float32, id, id2), then, when
  ``flag > 0``, ``flag`` float32 labels (the scalar label is then unused), then the image;
- ``train.idx`` holds ``key<TAB>byte offset`` lines;
- insightface sets start with a header record (key 0, flag 2, labels ``(a, b)``): records
  ``1 .. a-1`` are images, ``a .. b-1`` one identity record per class; sets written by
  mxnet's im2rec have no header and every record is an image; ``property`` holds
  ``num_classes,height,width``.

The ``.rec`` is opened lazily, once per process, so DataLoader workers read it in parallel
with random access by offset.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from hypercli.data.readers.base import Found, IndexReader, check_root, read_info
from hypercli.errors import HyperError
from hypercli.registry import READERS

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
HEADER = struct.Struct("<IfQQ")  # flag, label, id, id2
LENGTH_MASK = (1 << 29) - 1


def pack_record(payload: bytes) -> bytes:
    """One payload as RecordIO bytes, split at aligned magic words like dmlc-core's writer."""
    pieces, start = [], 0
    for pos in range(0, len(payload) - 3, 4):
        if payload[pos : pos + 4] == MAGIC_BYTES:
            pieces.append(payload[start:pos])
            start = pos + 4
    pieces.append(payload[start:])
    out = bytearray()
    for j, piece in enumerate(pieces):
        cflag = 0 if len(pieces) == 1 else 1 if j == 0 else 3 if j == len(pieces) - 1 else 2
        out += struct.pack("<II", MAGIC, (cflag << 29) | len(piece)) + piece
        out += b"\0" * (-len(piece) % 4)
    return bytes(out)


def pack_payload(image: bytes, label: float | list[float], id_: int = 0) -> bytes:
    """mxnet's ``recordio.pack``: an IRHeader (scalar label, or ``flag`` labels) + image."""
    if isinstance(label, (list, tuple)):
        return (HEADER.pack(len(label), 0.0, id_, 0)
                + struct.pack(f"<{len(label)}f", *label) + image)
    return HEADER.pack(0, float(label), id_, 0) + image


class RecordReader(IndexReader):
    """The image records of one ``.rec``/``.idx`` pair."""

    def __init__(self, rec: Path, idx: Path) -> None:
        self.rec, self.idx = rec, idx
        for p in (rec, idx):
            if not p.is_file():
                raise HyperError(f"{p} does not exist; a RecordIO set is NAME.rec + NAME.idx")
        self.size = rec.stat().st_size
        self.offsets: dict[int, int] = {}
        for n, line in enumerate(idx.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                key, off = (int(v) for v in line.split())
            except ValueError:
                raise HyperError(f"{idx} line {n}: expected 'key<TAB>offset', got "
                                 f"{line!r}") from None
            if not 0 <= off < self.size:
                raise HyperError(f"{idx} line {n}: offset {off} is past the end of {rec} "
                                 f"({self.size} bytes); the .idx does not belong to this .rec")
            self.offsets[key] = off
        if not self.offsets:
            raise HyperError(f"{idx} lists no records")
        self._f: Any = None
        self._pid = -1
        self.num_classes: int | None = None
        head = self.header(min(self.offsets)) if 0 in self.offsets else None
        if head is not None and head[0] > 0:  # insightface header record
            first, end = int(head[1][0]), int(head[1][1])
            self.keys = list(range(1, first))
            missing = [k for k in self.keys if k not in self.offsets]
            if missing:
                raise HyperError(f"{idx}: the header record names images 1..{first - 1} but "
                                 f"key {missing[0]} is not in the index")
            self.num_classes = end - first
        else:
            self.keys = sorted(self.offsets)

    def __getstate__(self) -> dict[str, Any]:  # a worker opens its own file handle
        return {**self.__dict__, "_f": None, "_pid": -1}

    def _file(self) -> Any:
        if self._f is None or self._pid != os.getpid():
            self._f, self._pid = open(self.rec, "rb"), os.getpid()  # noqa: SIM115
        return self._f

    def record(self, offset: int) -> bytes:
        """The payload of the record at byte ``offset``, its pieces joined by the magic."""
        f, pieces, at = self._file(), [], offset
        while True:
            f.seek(at)
            head = f.read(8)
            if len(head) < 8:
                raise HyperError(f"{self.rec}: record at byte {at} is cut short: the file "
                                 f"ends at byte {self.size}")
            magic, lrec = struct.unpack("<II", head)
            if magic != MAGIC:
                raise HyperError(f"{self.rec}: no RecordIO magic at byte {at} (found "
                                 f"{head[:4].hex()}, expected 0a23d7ce); the file is corrupt "
                                 "or the .idx does not belong to it")
            cflag, length = lrec >> 29, lrec & LENGTH_MASK
            if (cflag in (0, 1)) != (not pieces):
                raise HyperError(f"{self.rec}: record at byte {at} has continuation flag "
                                 f"{cflag} out of sequence; the file is corrupt")
            data = f.read(length)
            if len(data) < length:
                raise HyperError(f"{self.rec}: record at byte {at} claims {length} bytes but "
                                 f"the file ends at byte {self.size}")
            pieces.append(data)
            if cflag in (0, 3):
                return MAGIC_BYTES.join(pieces)
            at += 8 + length + (-length % 4)

    def header(self, key: int) -> tuple[int, list[float], bytes]:
        """``(flag, labels, image bytes)`` of record ``key``."""
        off = self.offsets[key]
        payload = self.record(off)
        if len(payload) < HEADER.size:
            raise HyperError(f"{self.rec}: record {key} at byte {off} is shorter than its "
                             f"{HEADER.size}-byte header")
        flag, label, _, _ = HEADER.unpack_from(payload)
        if flag > 0:
            end = HEADER.size + 4 * flag
            if len(payload) < end:
                raise HyperError(f"{self.rec}: record {key} at byte {off} announces {flag} "
                                 "labels but is shorter")
            return flag, list(struct.unpack_from(f"<{flag}f", payload, HEADER.size)), \
                payload[end:]
        return 0, [label], payload[HEADER.size :]

    def __len__(self) -> int:
        return len(self.keys)

    def read(self, i: int) -> tuple[bytes, int]:
        _, labels, image = self.header(self.keys[i])
        return image, int(labels[0])

    def describe(self, i: int) -> str:
        key = self.keys[i]
        return f"{self.rec} record {key} at byte {self.offsets[key]}"

    def scan_labels(self) -> list[int]:
        """Every image's label, reading each record (used only when nothing else says)."""
        return [self.read(i)[1] for i in range(len(self))]


def read_property(path: Path) -> int | None:
    """``num_classes`` from insightface's ``property`` file (``num_classes,H,W``)."""
    if not path.is_file():
        return None
    try:
        return int(path.read_text().strip().split(",")[0])
    except ValueError:
        raise HyperError(f"{path}: expected 'num_classes,height,width'") from None


@READERS.register("recordio")
def recordio(root: str | None = None, train: str = "train", test: str | None = None) -> Found:
    """MXNet RecordIO NAME.rec + NAME.idx (+ property), insightface's face sets."""
    base = check_root(root, "recordio")
    if base.is_file():  # data.root names the .rec itself
        base, train = base.parent, base.stem
    reader = RecordReader(base / f"{train}.rec", base / f"{train}.idx")
    if test is None and (base / "test.rec").is_file():
        test = "test"
    te = RecordReader(base / f"{test}.rec", base / f"{test}.idx") if test else None
    info = read_info(base)
    k = (len(info["class_names"]) if "class_names" in info else read_property(base / "property")
         or reader.num_classes)
    if k is None:
        k = max(reader.scan_labels() + (te.scan_labels() if te else [])) + 1
    return Found("recordio", base, reader, te, class_names=info.get("class_names"),
                 num_classes=k, info=info)
