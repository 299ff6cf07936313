"""insightface .bin files written here: the Python 2 byte-string pack, the numpy-array packs,
and pickles that try to run code (refused before anything runs)."""

from __future__ import annotations

import os
import pickle
import pickletools

import numpy as np
import pytest

from hypercli.errors import HyperError
from hypercli.verification import load_set, read_bin
from tests.verification.sets import encode, face, py2_bin


def opcodes(data: bytes) -> list[str]:
    return [op.name for op, _, _ in pickletools.genops(data)]


def globals_of(data: bytes) -> set[str]:
    """'module name' of every global a pickle names (GLOBAL, or protocol 4+'s two strings
    followed by STACK_GLOBAL)."""
    out, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            out.add(arg)
        elif op.name == "STACK_GLOBAL":
            out.add(f"{strings[-2]} {strings[-1]}")
        elif isinstance(arg, str):
            strings.append(arg)
    return out


def test_python2_pack_byte_for_byte(tmp_path):
    arrays = [face(i) for i in range(8)]
    # PNGs of 8x8 are short strings (U), JPEGs long ones (T), as Python 2 wrote either
    blobs = [encode(a, "PNG" if i % 2 == 0 else "JPEG") for i, a in enumerate(arrays)]
    same = [True, False, False, True]
    data = py2_bin(blobs, same)
    assert {"SHORT_BINSTRING", "BINSTRING", "NEWTRUE", "NEWFALSE", "APPENDS"} <= set(
        opcodes(data))
    with pytest.raises(UnicodeDecodeError):  # why encoding="bytes" is needed
        pickle.loads(data)
    path = tmp_path / "lfw.bin"
    path.write_bytes(data)
    vset = read_bin(path)
    assert vset.name == "lfw" and vset.folds == 10 and len(vset) == 4 and vset.format == "bin"
    assert vset.images.shape == (8, 3, 8, 8) and vset.images.dtype.is_floating_point is False
    assert vset.issame.tolist() == same
    assert vset.pairs.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    for i, a in enumerate(arrays):
        got = vset.images[i].permute(1, 2, 0).numpy()
        if i % 2 == 0:
            assert np.array_equal(got, a)  # PNG: lossless, RGB in channel order
        else:
            assert np.abs(got.astype(int) - a.astype(int)).mean() < 8  # JPEG q95


@pytest.mark.parametrize("protocol,needs", [(2, "_codecs encode"),
                                            (4, "numpy._core.multiarray _reconstruct"),
                                            (5, "numpy._core.numeric _frombuffer")])
def test_numpy_array_packs(tmp_path, protocol, needs):
    arrays = [face(i + 20) for i in range(6)]
    bins = [np.frombuffer(encode(a), dtype=np.uint8) for a in arrays]
    data = pickle.dumps((bins, [True, False, True]), protocol=protocol)
    assert needs in globals_of(data)
    (tmp_path / "agedb_30.bin").write_bytes(data)
    vset = read_bin(tmp_path / "agedb_30.bin", workers=1)
    assert vset.issame.tolist() == [True, False, True]
    for i, a in enumerate(arrays):
        assert np.array_equal(vset.images[i].permute(1, 2, 0).numpy(), a)


def test_python3_bytes_at_protocol_2_and_gray_images(tmp_path):
    gray = [encode(face(i)[:, :, 0]) for i in range(4)]  # mode L PNGs
    data = pickle.dumps((gray, (False, True)), protocol=2)  # bytes via _codecs.encode
    assert "_codecs encode" in globals_of(data)
    (tmp_path / "cfp_fp.bin").write_bytes(data)
    vset = load_set(tmp_path / "cfp_fp.bin")
    assert vset.images.shape == (4, 3, 8, 8)
    assert np.array_equal(vset.images[1, 0].numpy(), face(1)[:, :, 0])
    assert (vset.images[:, 0] == vset.images[:, 2]).all()  # gray to RGB: equal channels
    one = read_bin(tmp_path / "cfp_fp.bin", channels=1)
    assert one.images.shape == (4, 1, 8, 8)


class OpenFile:
    """Unpickling this would call open(path, "w"): it creates the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class Shell:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_pickles_that_run_code_are_refused_before_running(tmp_path):
    marker = tmp_path / "marker"
    png = encode(face(0))
    cases = {
        "open": ([png, OpenFile(marker)], [True]),
        "system": ([png, png], [Shell(marker)]),
        "object array": ([np.array([OpenFile(marker)], dtype=object), png], [True]),
    }
    for what, obj in cases.items():
        for protocol in (2, 5):
            path = tmp_path / f"evil-{protocol}.bin"
            path.write_bytes(pickle.dumps(obj, protocol=protocol))
            with pytest.raises(HyperError, match=r"refusing to load .*: it asks for "
                               r"(io\.open|posix\.system)") as err:
                read_bin(path)
            assert "\n" not in str(err.value), what
            assert not marker.exists(), what
    # the classic protocol-0 payload, written by hand
    path = tmp_path / "evil0.bin"
    path.write_bytes(b"cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(HyperError, match="it asks for posix.system"):
        read_bin(path)
    assert not marker.exists()


def test_truncated_and_malformed_files_are_one_line_errors(tmp_path):
    good = py2_bin([encode(face(i)) for i in range(4)], [True, False])

    def refused(data, match, name="x.bin"):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(HyperError, match=match) as err:
            read_bin(path)
        assert "\n" not in str(err.value)

    refused(good[: len(good) // 2], "not a readable insightface .bin")
    refused(good[:-1], "not a readable insightface .bin")  # no STOP
    refused(b"", "not a readable insightface .bin")
    refused(b"\x89PNG not a pickle", "not a readable insightface .bin")
    refused(pickle.dumps({"bins": []}, protocol=2), "not an insightface .bin")
    refused(pickle.dumps(([encode(face(0))] * 3, [True, False]), protocol=4),
            "3 images for 2 pairs")
    refused(pickle.dumps(([encode(face(0))] * 2, [1.0]), protocol=4), "flag 0 is a float")
    refused(pickle.dumps(([np.zeros(5), encode(face(0))], [True]), protocol=4),
            "image 0 is a float64 array")
    refused(pickle.dumps(([np.zeros((2, 2), np.uint8), b""], [True]), protocol=4),
            "image 0 is a uint8 array of shape")
    refused(pickle.dumps(([encode(face(0)), b"not an image"], [True]), protocol=4),
            "image 1 is not a readable image")
    refused(pickle.dumps(([encode(face(0)), encode(face(1, (8, 6)))], [True]), protocol=4),
            "aligned crops of one size")
    with pytest.raises(HyperError, match="does not exist"):
        read_bin(tmp_path / "missing.bin")
