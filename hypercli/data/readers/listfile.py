"""``list``: text files of ``relative/path label`` lines (Caffe's ImageData / opensphere).

``data.root`` holds the list files (``train.txt``, and ``test.txt`` or ``val.txt``) and the
images, whose paths are relative to the root; ``data.args.images`` names another image
root. Labels are integers from 0; the path is everything before the last whitespace, so
paths may hold spaces. Every listed file is checked to exist when the list is read.
"""

from __future__ import annotations

from pathlib import Path

from hypercli.data.readers.base import FilesReader, Found, check_root, read_info
from hypercli.errors import HyperError
from hypercli.registry import READERS


class ListReader(FilesReader):
    """The images named in one list file."""

    def __init__(self, list_file: Path, image_root: Path) -> None:
        self.list_file, self.root = list_file, image_root
        try:
            lines = list_file.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise HyperError(f"cannot read the list file {list_file}: {exc}") from None
        self.files: list[str] = []
        self._labels: list[int] = []
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.strip().rsplit(None, 1)
            try:
                if len(parts) != 2:
                    raise ValueError
                label = int(parts[1])
                if label < 0:
                    raise ValueError
            except ValueError:
                raise HyperError(f"{list_file} line {n}: expected 'relative/path label' with "
                                 f"an integer label >= 0, got {line.strip()!r}") from None
            if not (image_root / parts[0]).is_file():
                raise HyperError(f"{list_file} line {n}: {image_root / parts[0]} does not "
                                 "exist; fix the path (relative to data.root) or the root")
            self.files.append(parts[0])
            self._labels.append(label)
        if not self.files:
            raise HyperError(f"the list file {list_file} lists no images")


@READERS.register("list")
def list_(root: str | None = None, train: str = "train.txt", test: str | None = None,
          images: str | None = None) -> Found:
    """List files of 'relative/path label' lines (Caffe/opensphere) under data.root."""
    base = check_root(root, "list")
    if base.is_file():  # data.root names the training list itself
        base, train = base.parent, base.name
    img_root = Path(images).expanduser() if images else base
    if not (base / train).is_file():
        raise HyperError(f"list file {base / train} does not exist; name it with "
                         "data.args.train (relative to data.root)")
    reader = ListReader(base / train, img_root)
    if test is None:
        test = next((n for n in ("test.txt", "val.txt") if (base / n).is_file()), None)
    elif not (base / test).is_file():
        raise HyperError(f"list file {base / test} does not exist (data.args.test)")
    te = ListReader(base / test, img_root) if test else None
    info = read_info(base)
    k = max(reader.labels() + (te.labels() if te else [])) + 1
    return Found("list", base, reader, te, class_names=info.get("class_names"),
                 num_classes=len(info["class_names"]) if "class_names" in info else k, info=info)
