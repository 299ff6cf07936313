"""folder, list and webdataset readers on small files written here; errors; corrupt images."""

from __future__ import annotations

import json

import pytest
import torch

from hypercli.data import build_data
from hypercli.data.stream import StreamLoader
from hypercli.errors import HyperError
from hypercli.recipe import DataConfig
from tests.data.helpers import index_of, png, write_folder, write_shards, write_tar


def cfg(name, root, **kw) -> DataConfig:
    return DataConfig(name=name, root=str(root), workers=0, batch_size=4, **kw)


def all_of(split) -> tuple[list[int], list[int]]:
    ids, labels = [], []
    for x, y in split.batches(5):
        ids += index_of(x)
        labels += y.tolist()
    return ids, labels


def test_folder_classes_sorted_separate_val_folder(tmp_path):
    write_folder(tmp_path / "train", 12)
    (tmp_path / "train" / "c0" / "notes.txt").write_text("not an image")
    (tmp_path / "val" / "c1").mkdir(parents=True)
    (tmp_path / "val" / "c1" / "a.png").write_bytes(png(99))
    data = build_data(cfg("folder", tmp_path))
    assert data.class_names == ["c0", "c1", "c2"] and data.in_channels == 1
    assert data.image_size == 8 and len(data.train) == 12 and len(data.test) == 1
    ids, labels = all_of(data.train)
    assert ids == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]  # class by class, files sorted
    assert labels == [i % 3 for i in ids]
    assert all_of(data.test) == ([99], [1])


def test_folder_split_of_the_training_folder(tmp_path):
    write_folder(tmp_path, 20)
    with pytest.raises(HyperError, match="no test split; set data.val_split"):
        build_data(cfg("folder", tmp_path))
    data = build_data(cfg("folder", tmp_path, val_split=0.25))
    train, test = all_of(data.train)[0], all_of(data.test)[0]
    assert len(test) == 5 and len(train) == 15 and sorted(train + test) == list(range(20))
    again = build_data(cfg("folder", tmp_path, val_split=0.25))
    assert all_of(again.test)[0] == test  # seeded


def test_folder_errors(tmp_path):
    with pytest.raises(HyperError, match="does not exist"):
        build_data(cfg("folder", tmp_path / "nope"))
    write_folder(tmp_path, 4, classes=2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HyperError, match=r"class folder .*empty holds no images"):
        build_data(cfg("folder", tmp_path, val_split=0.5))
    with pytest.raises(HyperError, match="set data.root"):
        build_data(DataConfig(name="folder"))


def test_list_paths_with_spaces_labels_and_errors(tmp_path):
    (tmp_path / "im gs").mkdir()
    for i in range(6):
        (tmp_path / "im gs" / f"{i}.png").write_bytes(png(i))
    (tmp_path / "train.txt").write_text("# comment\n" + "".join(
        f"im gs/{i}.png {5 - i}\n" for i in range(4)) + "\n")
    (tmp_path / "test.txt").write_text("im gs/4.png 1\nim gs/5.png 0\n")
    data = build_data(cfg("list", tmp_path))
    assert data.num_classes == 6  # labels 0..5 over both lists
    assert all_of(data.train) == ([0, 1, 2, 3], [5, 4, 3, 2])
    assert all_of(data.test) == ([4, 5], [1, 0])
    (tmp_path / "train.txt").write_text("im gs/0.png 1\nim gs/missing.png 0\n")
    with pytest.raises(HyperError, match=r"train.txt line 2: .*missing.png does not exist"):
        build_data(cfg("list", tmp_path))
    (tmp_path / "train.txt").write_text("im gs/0.png one\n")
    with pytest.raises(HyperError, match="line 1: expected 'relative/path label'"):
        build_data(cfg("list", tmp_path))


def test_webdataset_patterns_and_counts_without_info(tmp_path):
    write_shards(tmp_path, 10, 4)  # 4 + 4 + 2 samples, no dataset.json: scanned
    write_shards(tmp_path, 3, 3, prefix="test")
    data = build_data(cfg("webdataset", tmp_path))
    assert len(data.train) == 10 and len(data.test) == 3 and data.num_classes == 3
    ids, labels = all_of(data.test)
    assert ids == [0, 1, 2] and labels == [0, 1, 2]
    data = build_data(cfg("webdataset", tmp_path, args={"train": "train-{000000..000001}.tar"}))
    assert len(data.train) == 8
    with pytest.raises(HyperError, match="matches no files"):
        build_data(cfg("webdataset", tmp_path, args={"train": "nope-*.tar"}))
    with pytest.raises(HyperError, match="train-000003.tar of the pattern"):
        build_data(cfg("webdataset", tmp_path, args={"train": "train-{000000..000007}.tar"}))


def test_webdataset_epoch_is_every_sample_once_shuffled(tmp_path):
    write_shards(tmp_path, 24, 6)
    (tmp_path / "dataset.json").write_text(json.dumps({"class_names": ["a", "b", "c"]}))
    data = build_data(cfg("webdataset", tmp_path, args={"test": "train-000000.tar"},
                          shuffle_buffer=8))
    assert data.class_names == ["a", "b", "c"]
    loader = StreamLoader(data.train, 4, seed=3)
    epochs = []
    for e in range(2):
        loader.set_epoch(e)
        epochs.append([i for x, _ in loader.batches() for i in index_of(x)])
    assert len(loader) == 6
    assert sorted(epochs[0]) == list(range(24)) == sorted(epochs[1])
    assert epochs[0] != epochs[1] and epochs[0] != list(range(24))
    loader.set_epoch(1)  # mid-epoch resume replays to the same place
    assert [i for x, _ in loader.batches(4) for i in index_of(x)] == epochs[1][16:]
    fixed = StreamLoader(data.train, 4, seed=3, samples_per_epoch=10)
    assert len(fixed) == 3 and sum(len(y) for _, y in fixed.batches()) == 10


def test_webdataset_sample_without_class_is_an_error(tmp_path):
    write_tar(tmp_path / "train-000000.tar", [("a.png", png(0)), ("a.cls", b"0"),
                                              ("b.png", png(1))])
    data = build_data(cfg("webdataset", tmp_path, args={"test": "train-000000.tar"}))
    with pytest.raises(HyperError, match=r"train-000000.tar: sample b lacks .*\.cls"):
        list(data.test.batches(4))


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_image_names_the_file_or_is_skipped(tmp_path, workers):
    write_folder(tmp_path, 9)
    (tmp_path / "c1" / "00004.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    c = cfg("folder", tmp_path, val_split=0.3).model_copy(update={"workers": workers})
    data = build_data(c)
    loader = data.train_loader(c, 0, torch.device("cpu"))
    with pytest.raises(HyperError, match=r"c1/00004.png: not a readable image.*skip_corrupt"):
        for _ in loader.batches():
            pass
    c = c.model_copy(update={"skip_corrupt": True})
    data = build_data(c)
    loader = data.train_loader(c, 0, torch.device("cpu"))
    n = sum(len(y) for _, y in loader.batches())
    n += sum(len(y) for _, y in data.test.batches(4))
    assert n == 8  # 9 images, one skipped, wherever it fell
    assert loader.skipped + (1 if len(data.train) == 7 else 0) in (0, 1)


def test_streamed_only_options_on_in_memory_data_are_errors():
    with pytest.raises(HyperError, match="image_size applies to formats streamed"):
        build_data(DataConfig(name="synthetic", image_size=32))
