"""Run under torchrun (gloo): for each data config of a JSON list, each rank writes the
image indices it sees in epochs 0 and 1 to OUT.<config>.<rank>.

    python -m torch.distributed.run --nproc-per-node 2 tests/data/dist_epoch.py CFGS_JSON OUT
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.getcwd())

from hypercli.data import build_data  # noqa: E402
from hypercli.recipe import DataConfig  # noqa: E402
from tests.data.helpers import index_of  # noqa: E402


def main() -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    for k, tree in enumerate(json.loads(sys.argv[1])):
        cfg = DataConfig.model_validate(tree)
        data = build_data(cfg, seed=11)
        loader = data.train_loader(cfg, 11, torch.device("cpu"), rank, world)
        epochs = []
        for e in range(2):
            loader.set_epoch(e)
            epochs.append([i for x, _ in loader.batches() for i in index_of(x)])
        with open(f"{sys.argv[2]}.{k}.{rank}", "w") as f:
            json.dump({"len": len(loader), "epochs": epochs}, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
