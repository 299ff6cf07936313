"""``folder``: torchvision's ImageFolder layout, ``root/<class>/<image>``, classes sorted.

``root/train`` + ``root/val`` (or ``root/test``) when those folders exist (ImageNet's
layout); otherwise ``root`` itself is the training folder and ``data.val_split`` of it is
held out for testing. Only files with an image extension count (torchvision's
``IMG_EXTENSIONS``); symbolic links are followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypercli.data.readers.base import FilesReader, Found, check_root, read_info
from hypercli.errors import HyperError
from hypercli.registry import READERS

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class FolderReader(FilesReader):
    """Images of ``root/<class>/**``; label = position of the class in the sorted names."""

    def __init__(self, root: Path, classes: list[str] | None = None) -> None:
        self.root = root
        if not root.is_dir():
            raise HyperError(f"{root} is not a directory of class folders (ImageFolder layout "
                             "root/<class>/<image>)")
        found = sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name[0] != ".")
        if not found:
            raise HyperError(f"{root} holds no class folders; the ImageFolder layout is "
                             "root/<class>/<image>")
        self.classes = classes or found
        unknown = sorted(set(found) - set(self.classes))
        if unknown:
            raise HyperError(f"{root}/{unknown[0]} is a class the training folder does not "
                             "have; the test folder must use the training classes")
        index = {c: i for i, c in enumerate(self.classes)}
        self.files: list[str] = []
        self._labels: list[int] = []
        for name in found:
            files = sorted(
                os.path.relpath(os.path.join(d, f), root)
                for d, _, fs in os.walk(root / name, followlinks=True) for f in fs
                if f.lower().endswith(IMG_EXTENSIONS))
            if not files:
                raise HyperError(f"class folder {root / name} holds no images "
                                 f"({', '.join(IMG_EXTENSIONS)}); add images or remove it")
            self.files += files
            self._labels += [index[name]] * len(files)


@READERS.register("folder")
def folder(root: str | None = None, train: str | None = None,
           test: str | None = None) -> Found:
    """Image folders root/<class>/<image> (ImageFolder layout; root/train + root/val too)."""
    base = check_root(root, "folder")
    tr = base / train if train else (base / "train" if (base / "train").is_dir() else base)
    if test:
        te: Path | None = base / test
        if not te.is_dir():
            raise HyperError(f"test folder {te} does not exist (data.args.test)")
    else:
        te = next((base / n for n in ("val", "test") if (base / n).is_dir() and tr != base),
                  None)
    reader = FolderReader(tr)
    info = read_info(base)
    names = info.get("class_names")  # the exported names, which may hold '/'
    names = names if isinstance(names, list) and len(names) == len(reader.classes) else None
    return Found("folder", base, reader, FolderReader(te, reader.classes) if te else None,
                 class_names=names or reader.classes, num_classes=len(reader.classes),
                 info=info)
