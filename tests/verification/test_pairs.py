"""LFW pairs.txt and pair lists written here with their image trees; load_set tells formats."""

from __future__ import annotations

import numpy as np
import pytest

from hypercli.errors import HyperError
from hypercli.verification import load_set, read_pair_list, read_pairs_txt, set_format
from tests.verification.sets import (
    PAIRS_TXT_LINES,
    PAIRS_TXT_SAME,
    encode,
    face,
    lfw_index,
    write_lfw,
)


def carried(vset, i):
    """The index a decoded image carries in pixel (0, 0) (PNG: exact)."""
    x = vset.images[i]
    return int(x[0, 0, 0]) + 256 * int(x[1, 0, 0])


def expected_pairs():
    out = []
    for line in PAIRS_TXT_LINES:
        f = line.split("\t")
        out.append((lfw_index(f[0], int(f[1])), lfw_index(f[0], int(f[2]))) if len(f) == 3
                   else (lfw_index(f[0], int(f[1])), lfw_index(f[2], int(f[3]))))
    return out


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_pairs_txt_reads_names_folds_and_images(tmp_path, ext):
    path = write_lfw(tmp_path, ext)
    vset = read_pairs_txt(path, tmp_path / "images", ext=ext)
    assert vset.name == "lfw" and vset.folds == 2 and len(vset) == 8
    assert vset.format == "pairs.txt" and vset.source == str(path)
    assert vset.issame.tolist() == PAIRS_TXT_SAME
    assert vset.paths[vset.pairs[0, 0]] == "Ann_Lee/Ann_Lee_0001." + ext
    assert vset.paths[vset.pairs[2, 1]] == "Bo_Chan/Bo_Chan_0002." + ext
    assert len(vset.paths) == len(set(vset.paths)) == 8  # each distinct file once
    assert vset.images is None  # files, not decoded yet
    decoded = vset.decode(channels=3, workers=0)
    assert decoded.images.shape == (8, 3, 8, 8)
    if ext == "png":
        got = [(carried(decoded, a), carried(decoded, b)) for a, b in decoded.pairs]
        assert got == expected_pairs()


def test_pairs_txt_missing_images_and_bad_layout(tmp_path):
    path = write_lfw(tmp_path, "png")
    images = tmp_path / "images"
    with pytest.raises(HyperError, match=r"8 of 8 images are missing .*/Ann_Lee_0001\.jpg"):
        read_pairs_txt(path, images)  # the default extension is jpg
    (images / "Bo_Chan" / "Bo_Chan_0003.png").unlink()
    with pytest.raises(HyperError, match=r"1 of 8 images are missing under .*, the first "
                       r".*Bo_Chan_0003\.png; every pair must be present") as err:
        read_pairs_txt(path, images, ext="png")
    assert "\n" not in str(err.value)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # one pair short of the header's 8
    with pytest.raises(HyperError, match=r"announces 2 folds of 2x2 pairs \(8\), the file "
                       r"holds 7"):
        read_pairs_txt(path, images, ext="png")
    path.write_text("2\t2\nAnn_Lee\t1\n")
    with pytest.raises(HyperError, match=r"pairs.txt:2: 2 fields"):
        read_pairs_txt(path, images, ext="png")
    path.write_text("2\t2\nAnn_Lee\tone\t2\n")
    with pytest.raises(HyperError, match=r"pairs.txt:2: image number 'one'"):
        read_pairs_txt(path, images, ext="png")
    path.write_text("ten\t300\n")
    with pytest.raises(HyperError, match="header"):
        read_pairs_txt(path, images, ext="png")


def test_pair_list_relative_to_its_folder_or_a_root(tmp_path):
    (tmp_path / "val" / "a").mkdir(parents=True)
    for i in range(4):
        (tmp_path / "val" / "a" / f"{i}.png").write_bytes(encode(face(i)))
    text = "1 a/0.png a/1.png\n0 a/2.png a/3.png\n\n1 a/3.png a/0.png\n"
    (tmp_path / "val" / "lfw_ann.txt").write_text(text)
    vset = read_pair_list(tmp_path / "val" / "lfw_ann.txt", folds=3)
    assert vset.issame.tolist() == [True, False, True] and vset.folds == 3
    assert vset.format == "pair-list"
    assert vset.pairs.tolist() == [[0, 1], [2, 3], [3, 0]]
    decoded = vset.decode(workers=0)
    assert [carried(decoded, i) for i in range(4)] == [0, 1, 2, 3]
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "ann.txt").write_text(text)
    other = read_pair_list(tmp_path / "lists" / "ann.txt", root=tmp_path / "val")
    assert other.paths == vset.paths
    with pytest.raises(HyperError, match=r"4 of 4 images are missing under .*lists"):
        read_pair_list(tmp_path / "lists" / "ann.txt")
    (tmp_path / "lists" / "bad.txt").write_text("1 a/0.png a/1.png\nsame a/0.png a/1.png\n")
    with pytest.raises(HyperError, match=r"bad.txt:2: a pair list line is 'label path0 path1'"):
        read_pair_list(tmp_path / "lists" / "bad.txt", root=tmp_path / "val")


def test_load_set_tells_the_formats_apart(tmp_path):
    pairs = write_lfw(tmp_path, "png")
    assert set_format(pairs) == "pairs.txt"
    vset = load_set(pairs, tmp_path / "images", image_ext="png", workers=0)
    assert vset.images.shape == (8, 3, 8, 8)
    ann = tmp_path / "ann.txt"
    ann.write_text("1 images/Ann_Lee/Ann_Lee_0001.png images/Ann_Lee/Ann_Lee_0002.png\n"
                   "0 images/Ann_Lee/Ann_Lee_0001.png images/Bo_Chan/Bo_Chan_0001.png\n")
    assert set_format(ann) == "pair-list"
    gray = load_set(ann, channels=1, workers=0, name="probe")
    assert gray.images.shape == (3, 1, 8, 8) and gray.name == "probe"
    assert np.array_equal(gray.issame, [True, False])
    (tmp_path / "notes.txt").write_text("hello world\n")
    with pytest.raises(HyperError, match="not a verification set"):
        load_set(tmp_path / "notes.txt")
    with pytest.raises(HyperError, match="does not exist"):
        load_set(tmp_path / "lfw.bin")
