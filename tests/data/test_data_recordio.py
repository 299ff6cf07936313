"""MXNet RecordIO read from files built here byte for byte with struct (faces.md section 1)."""

from __future__ import annotations

import struct

import pytest

from hypercli.data.readers.recordio import RecordReader, pack_payload, pack_record, recordio
from hypercli.errors import HyperError
from tests.data.helpers import MAGIC, png, rec_record


def irheader(flag: int, label: float, id_: int = 0) -> bytes:
    return struct.pack("<IfQQ", flag, label, id_, 0)


def write_rec(tmp_path, records: list[bytes], name: str = "train") -> None:
    """``records``: already-encoded record bytes per key; writes NAME.rec and NAME.idx."""
    offsets, pos = [], 0
    for r in records:
        offsets.append(pos)
        pos += len(r)
    (tmp_path / f"{name}.rec").write_bytes(b"".join(records))
    (tmp_path / f"{name}.idx").write_text("".join(f"{k}\t{o}\n" for k, o in enumerate(offsets)))


def insightface_set(tmp_path):
    """Header record, 3 images of classes 0, 0, 1 (the second split in 3 pieces at two
    aligned magic words, the third with a float label vector), 2 identity records."""
    img0, img1, img2 = png(10), png(11), png(12)
    body1 = irheader(0, 0.0) + MAGIC + b"ab\0\0" + MAGIC + img1  # magic at offsets 24, 32
    records = [
        rec_record(0, irheader(2, 0.0) + struct.pack("<2f", 4.0, 6.0)),
        rec_record(0, irheader(0, 0.0) + img0),
        rec_record(1, body1[:24]) + rec_record(2, body1[28:32]) + rec_record(3, body1[36:]),
        rec_record(0, irheader(2, 0.0) + struct.pack("<2f", 1.0, 5.0) + img2),
        rec_record(0, irheader(2, 0.0) + struct.pack("<2f", 1.0, 3.0)),
        rec_record(0, irheader(2, 0.0) + struct.pack("<2f", 3.0, 4.0)),
    ]
    write_rec(tmp_path, records)
    return img0, body1[24:], img2


def test_insightface_layout_multipart_and_float_labels(tmp_path):
    img0, rest1, img2 = insightface_set(tmp_path)
    r = RecordReader(tmp_path / "train.rec", tmp_path / "train.idx")
    assert len(r) == 3 and r.keys == [1, 2, 3]
    assert r.num_classes == 2  # identity records 4..5
    assert r.read(0) == (img0, 0)
    data, label = r.read(1)
    assert label == 0 and data == rest1  # the magic words re-inserted between the pieces
    assert data[:4] == MAGIC and data[8:12] == MAGIC
    assert r.read(2) == (img2, 1)  # flag 2: label vector (1.0, 5.0), the first is the class
    found = recordio(root=str(tmp_path))
    assert found.num_classes == 2 and found.test is None


def test_writer_splits_where_the_reader_joins(tmp_path):
    payload = irheader(0, 3.0) + MAGIC + b"xyz1" + MAGIC  # magic at 24 and 32, then the end
    packed = pack_record(payload)
    expect = (rec_record(1, payload[:24]) + rec_record(2, payload[28:32])
              + rec_record(3, b""))
    assert packed == expect
    assert pack_payload(b"IMG", 3.0) == irheader(0, 3.0) + b"IMG"
    assert pack_payload(b"IMG", [1.0, 2.0]) == irheader(2, 0.0) + struct.pack("<2f", 1, 2) + b"IMG"


def test_im2rec_layout_without_header_and_property(tmp_path):
    write_rec(tmp_path, [rec_record(0, irheader(0, float(k % 2), k) + png(k)) for k in range(4)])
    (tmp_path / "property").write_text("7,8,8\n")
    r = RecordReader(tmp_path / "train.rec", tmp_path / "train.idx")
    assert len(r) == 4 and [r.read(i)[1] for i in range(4)] == [0, 1, 0, 1]
    assert recordio(root=str(tmp_path / "train.rec")).num_classes == 7


def test_wrong_magic_names_file_and_offset(tmp_path):
    good = rec_record(0, irheader(0, 1.0) + png(1))
    bad = b"\x0b" + good[1:]
    write_rec(tmp_path, [rec_record(0, irheader(0, 0.0) + png(0)), bad])
    r = RecordReader(tmp_path / "train.rec", tmp_path / "train.idx")
    with pytest.raises(HyperError, match=rf"train.rec: no RecordIO magic at byte {len(good)}"):
        r.read(1)


def test_length_past_the_end_and_idx_past_the_end(tmp_path):
    first = rec_record(0, irheader(0, 0.0) + png(0))
    rec = rec_record(0, irheader(0, 1.0) + png(1))
    cut = rec[:4] + struct.pack("<I", len(rec) + 100) + rec[8:]
    write_rec(tmp_path, [first, cut])
    r = RecordReader(tmp_path / "train.rec", tmp_path / "train.idx")
    assert r.read(0)[1] == 0
    with pytest.raises(HyperError, match=rf"record at byte {len(first)} claims \d+ bytes but "
                                         rf"the file ends at byte {len(first) + len(cut)}"):
        r.read(1)
    size = len(first) + len(cut)
    (tmp_path / "train.idx").write_text(f"0\t0\n1\t{size + 8}\n")
    with pytest.raises(HyperError, match=rf"line 2: offset {size + 8} is past the end"):
        RecordReader(tmp_path / "train.rec", tmp_path / "train.idx")


def test_piece_out_of_sequence_and_missing_files(tmp_path):
    write_rec(tmp_path, [rec_record(2, irheader(0, 0.0) + png(0))])
    with pytest.raises(HyperError, match="byte 0 has continuation flag 2 out of sequence"):
        RecordReader(tmp_path / "train.rec", tmp_path / "train.idx")  # reads record 0 at once
    with pytest.raises(HyperError, match="nope.rec does not exist"):
        RecordReader(tmp_path / "nope.rec", tmp_path / "train.idx")
