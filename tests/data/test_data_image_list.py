"""image_list: a folder's images in sorted relative-path order, list files with and without
labels, and one-line errors for what cannot be embedded."""

from __future__ import annotations

import pytest

from hypercli.data.image_list import image_list, read_list
from hypercli.errors import HyperError


def _touch(root, *names):
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def test_a_folder_recursively_in_sorted_relative_path_order(tmp_path):
    _touch(tmp_path, "b/x.png", "a/2.jpg", "a/10.JPEG", "c.PNG", "a/deep/er/z.webp",
           "notes.txt", "a/2.jpg.txt", "b/y.gif")
    found = image_list(tmp_path)
    assert found.paths == ["a/10.JPEG", "a/2.jpg", "a/deep/er/z.webp", "b/x.png", "c.PNG"]
    assert found.labels is None and found.root == tmp_path


def test_a_list_with_labels_comments_blanks_and_spaces(tmp_path):
    _touch(tmp_path, "x.png")
    lst = tmp_path / "lists" / "probe.txt"
    lst.parent.mkdir()
    lst.write_text("# probe set\n\nA B/img 1.png 3\n  c.png\t0  \n# done\nd.png -1\n")
    found = image_list(lst)
    assert found.paths == ["A B/img 1.png", "c.png", "d.png"]
    assert found.labels == [3, 0, -1]
    assert found.root == lst.parent  # relative to the list's folder
    assert image_list(lst, root=tmp_path).root == tmp_path


def test_a_list_without_labels_keeps_whole_lines(tmp_path):
    lst = tmp_path / "l.txt"
    lst.write_text("a b.png\nc.jpg\n")
    assert read_list(lst) == (["a b.png", "c.jpg"], None)


@pytest.mark.parametrize("text, words", [
    ("a.png 1\nb.png\n", "line 2: no label where the first line has one"),
    ("# x\na.png\n\nb.png 2\n", "line 4: a label where the first line has none"),
    ("# only a comment\n\n", "lists no images"),
])
def test_bad_lists(tmp_path, text, words):
    lst = tmp_path / "l.txt"
    lst.write_text(text)
    with pytest.raises(HyperError, match=words):
        image_list(lst)


def test_bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    _touch(tmp_path, "empty/readme.txt", "one.jpg")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "ok.txt").write_text("one.jpg\n")
    cases = [
        (tmp_path / "empty", None, "holds no images"),
        (tmp_path / "missing", None, "does not exist"),
        (tmp_path / "one.jpg", None, "is one image"),
        (tmp_path / "bin.txt", None, "cannot read the list file"),
        (tmp_path, tmp_path, "--root applies to a list file"),
        (tmp_path / "ok.txt", tmp_path / "nowhere", "is not a folder"),
    ]
    for source, root, words in cases:
        with pytest.raises(HyperError, match=words) as e:
            image_list(source, root)
        assert "\n" not in str(e.value)
