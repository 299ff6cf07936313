"""Saving figures: format by extension, exact pixel size, atomic writes, clear errors."""

from __future__ import annotations

import pytest
from matplotlib.image import imread

from hypercli.errors import HyperError
from hypercli.viz.figure import new_figure, parse_size, save_figure


def small_figure():
    fig = new_figure((320, 200))
    fig.subplots().plot([0, 1, 2], [1, 0, 1])
    return fig


def test_formats_by_extension(tmp_path):
    png = save_figure(small_figure(), tmp_path / "a.png")
    img = imread(png)
    assert img.shape == (200, 320, 4) and float(img[..., :3].var()) > 0
    assert (tmp_path / "b.svg").exists() is False
    assert b"<svg" in save_figure(small_figure(), tmp_path / "b.svg").read_bytes()[:2000]
    assert save_figure(small_figure(), tmp_path / "c.PDF").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.svg", "c.PDF"]  # no temp


def test_overwrites_and_creates_folders(tmp_path):
    target = tmp_path / "new" / "dir" / "f.png"
    save_figure(small_figure(), target)
    target.write_bytes(b"old")
    save_figure(small_figure(), target)
    assert imread(target).shape == (200, 320, 4)


@pytest.mark.parametrize("name, message", [
    ("f.gif", "unsupported extension '.gif'"),
    ("noext", "unsupported extension '(none)'"),
])
def test_unsupported_extension(tmp_path, name, message):
    with pytest.raises(HyperError, match=message.replace("(", r"\(").replace(")", r"\)")):
        save_figure(small_figure(), tmp_path / name)


def test_unwritable_paths(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(HyperError, match="is a file, not a folder"):
        save_figure(small_figure(), blocker / "f.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(HyperError, match="is a directory"):
        save_figure(small_figure(), tmp_path / "dir.png")


def test_parse_size():
    assert parse_size("1600x900") == (1600, 900)
    for bad in ("1600", "ax9", "10x10"):
        with pytest.raises(HyperError, match="--size"):
            parse_size(bad)


def test_renders_without_a_display_whatever_the_backend(tmp_path):
    """No pyplot, no GUI backend: a GUI MPLBACKEND and no DISPLAY still render a PNG."""
    import os
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from hypercli.viz import plot_points, save_figure\n"
            f"save_figure(plot_points(np.eye(3)), {str(tmp_path / 'p.png')!r})\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "TkAgg"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert imread(tmp_path / "p.png").shape == (460, 1390, 4)
