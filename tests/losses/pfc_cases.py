"""The seeded heads, batches and tiny nets shared by the PartialFC worker and its tests, so
the 2-process run and the single-process references build the same things independently."""

from __future__ import annotations

import zlib

import torch
from torch import nn

from hypercli.models.net import Net, Normalize
from hypercli.registry import HEADS

WORLD = 2
D = 5
C = 7  # odd: shards [0, 4) and [4, 7)
SIZES = (5, 4)  # uneven per-rank batches
LABELS = [0, 6, 3, 4, 2, 5, 1, 6, 3]  # on both shards
LOW_LABELS = [0, 1, 2, 3, 0, 1, 2, 3, 0]  # all on shard 0: rank 1 has no target
SMOOTHING = (0.0, 0.1)

SAMPLED_C = 40  # shards of 20
SAMPLED_LABELS = [1, 5, 1, 22, 30, 5, 22, 39, 12]  # 3 positives on each shard
SAMPLED_RATE = 0.3  # 6 kept centers per shard
SAMPLED_STEPS = 3
FEW_RATE = 0.1  # 2 per shard, fewer than the 3 positives: only the positives are kept

NET_HEADS = ("asoftmax", "softmax")  # stateful; a sharded bias
NET_C = 7
STEPS, SPLIT = 4, 2  # SGD steps; the checkpoint is taken after SPLIT of them
PER_RANK = 4
SGD = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}
CLIP = 0.05  # below the gradient norms of these steps: clipping is active


def head_names() -> list[str]:
    return HEADS.names()


def make_head(name: str, smoothing: float, num_classes: int = C):
    """A float64 head with a seeded init; annealed heads at the end of their schedule (full
    margin: A-Softmax lambda 5, L-Softmax lambda ~0)."""
    torch.manual_seed(zlib.crc32(name.encode()))
    head = HEADS.create(name, D, num_classes, label_smoothing=smoothing).double()
    if hasattr(head, "iteration"):
        head.iteration.fill_(10**6)
    return head


def features() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(sum(SIZES), D, generator=g, dtype=torch.float64) * 3


def rank_rows(rank: int, sizes=SIZES) -> slice:
    start = sum(sizes[:rank])
    return slice(start, start + sizes[rank])


def make_net(seed: int, head: str) -> Net:
    torch.manual_seed(seed)
    body = nn.Sequential(nn.Flatten(), nn.Linear(9, 8), nn.Tanh())
    net = Net(Normalize([0.5], [0.25]), body,
              HEADS.create(head, 4, NET_C, label_smoothing=0.1), nn.Linear(8, 4))
    return net.double()


def net_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch of ``step``: images (WORLD * PER_RANK, 1, 3, 3) in [0, 1], labels."""
    g = torch.Generator().manual_seed(100 + step)
    n = WORLD * PER_RANK
    return (torch.rand(n, 1, 3, 3, generator=g, dtype=torch.float64),
            torch.randint(0, NET_C, (n,), generator=g))


def sgd(module: nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(module.parameters(), **SGD)
