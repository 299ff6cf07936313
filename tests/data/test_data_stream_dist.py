"""Streamed formats under torchrun (2 gloo processes): an epoch is every training image once
over all ranks, in a seeded order; 2 processes train like 1; resuming continues in place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hypercli.data import build_data
from hypercli.recipe import DataConfig
from tests.conftest import tiny_tree
from tests.data.helpers import index_of, write_folder, write_shards
from tests.engine.test_engine_distributed import close, hyper_train, params

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
REPO = Path(__file__).resolve().parents[2]


def run_ranks(tmp_path, cfgs: list[dict]) -> list[list[dict]]:
    """One torchrun launch (2 gloo processes) for all configs: [config][rank] -> seen."""
    out = tmp_path / "seen"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node=2", str(REPO / "tests/data/dist_epoch.py"),
                          json.dumps(cfgs), str(out)], env=ENV, cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return [[json.loads(Path(f"{out}.{k}.{r}").read_text()) for r in range(2)]
            for k in range(len(cfgs))]


def test_an_epoch_is_every_image_once_over_two_ranks(tmp_path):
    write_folder(tmp_path / "folder" / "train", 24)
    write_folder(tmp_path / "folder" / "test", 3)
    cfgs = [{"name": "folder", "root": str(tmp_path / "folder"), "batch_size": 4,
             "workers": 1}]
    # 4 shards dealt to 2 ranks x 2 workers; 3 shards for 4 readers: each keeps every 4th
    for per_shard in (6, 8):
        root = tmp_path / f"wds{per_shard}"
        root.mkdir()
        write_shards(root, 24, per_shard)
        write_shards(root, 3, 3, prefix="test")
        cfgs.append({"name": "webdataset", "root": str(root), "batch_size": 4, "workers": 2})
    for cfg, ranks in zip(cfgs, run_ranks(tmp_path, cfgs), strict=True):
        assert ranks[0]["len"] == ranks[1]["len"] == 6, cfg
        for e in range(2):
            seen = ranks[0]["epochs"][e] + ranks[1]["epochs"][e]
            assert sorted(seen) == list(range(24)), (cfg, seen)
        assert ranks[0]["epochs"][0] != ranks[0]["epochs"][1]  # reshuffled per epoch
        # seeded: rank 1's first epoch again, in this process
        c = DataConfig.model_validate(cfg)
        loader = build_data(c, 11).train_loader(c, 11, torch.device("cpu"), 1, 2)
        loader.set_epoch(0)
        assert [i for x, _ in loader.batches() for i in index_of(x)] == ranks[1]["epochs"][0]


def test_index_loader_resumes_mid_epoch_exactly(tmp_path):
    write_folder(tmp_path, 20)
    cfg = DataConfig(name="folder", root=str(tmp_path), val_split=0.2, workers=0,
                     batch_size=4, augment=["crop", "flip"], pad=2)
    loader = build_data(cfg, 3).train_loader(cfg, 3, torch.device("cpu"))
    loader.set_epoch(2)
    full = list(loader.batches())
    fresh = build_data(cfg, 3).train_loader(cfg, 3, torch.device("cpu"))
    fresh.set_epoch(2)
    tail = list(fresh.batches(2))
    assert len(tail) == len(full) - 2
    for (xa, ya), (xb, yb) in zip(full[2:], tail, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)  # same images, same augmentation
    assert sum(len(y) for _, y in full) == 16  # the 20 images less the 4 held out


@pytest.fixture
def exported_folder(tmp_path):
    from hypercli.data import load_raw
    from hypercli.data.export import export_dataset

    export_dataset(load_raw(DataConfig()), "folder", tmp_path / "fm", limit=64)
    tree = tiny_tree(data={"name": "folder", "root": str(tmp_path / "fm"), "args": {},
                           "batch_size": 32, "augment": ["crop", "flip"], "workers": 1},
                     model={"name": "plain-cnn-small", "batchnorm": False,
                            "args": {"widths": [8, 16], "final_width": 16}},
                     train={"epochs": 2, "device": "cpu"})
    path = tmp_path / "fm.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_streamed_folder_two_processes_train_like_one_and_resume(tmp_path, exported_folder):
    from hypercli.engine import train
    from hypercli.recipe import load_recipe

    recipe = load_recipe(exported_folder)
    one = train(recipe, tmp_path / "one", progress=False)
    two = hyper_train("--recipe", str(exported_folder), "--out", str(tmp_path / "two"), nproc=2)
    assert two["steps"] == one["steps"] == 4
    assert close(params(tmp_path / "one"), params(tmp_path / "two"))
    train(load_recipe(exported_folder, ["train.epochs=1"]), tmp_path / "res", progress=False)
    train(load_recipe(exported_folder, ["train.epochs=2"]), tmp_path / "res", resume=True,
          progress=False)
    assert close(params(tmp_path / "one"), params(tmp_path / "res"), tol=0)
