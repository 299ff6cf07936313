"""PartialFC against one process: every head's loss and gradients on 2 gloo ranks equal the
plain head on the concatenated batch with the whole matrix (float64); DDP + PartialFC SGD
steps equal one process; checkpoints move between process counts; the sampled centers.

One torchrun launch (tests/losses/dist_partial_fc.py) computes every 2-process result; the
references here are computed in this process from the same seeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypercli.errors import HyperError
from hypercli.losses import CosFace, MarginHead
from hypercli.losses.partial_fc import (
    PartialFC,
    _ShardedCrossEntropy,
    clip_grad_norm_,
    draw_seed,
    sample_centers,
    shard,
    shard_bounds,
)
from tests.losses import pfc_cases as K

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TOL = {"atol": 1e-10, "rtol": 1e-9}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("pfc") / "out"
    worker = REPO / "tests/losses/dist_partial_fc.py"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          f"--nproc-per-node={K.WORLD}", str(worker), str(out)], env=ENV,
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return [torch.load(f"{out}.{r}.pt", weights_only=False) for r in range(K.WORLD)]


def reference(head: MarginHead, x: torch.Tensor, y: torch.Tensor):
    """The plain head on the whole batch in one process: loss, dL/dx, dL/dparams."""
    x = x.clone().requires_grad_(True)
    loss = head(x, y)
    loss.backward()
    return loss.detach(), x.grad, {n: p.grad for n, p in head.named_parameters()}


def close(a, b, **tol):
    torch.testing.assert_close(a, b, **(tol or TOL))


# -- 2 processes, sample_rate 1: every head --------------------------------------------------

@pytest.mark.parametrize("name", K.head_names())
@pytest.mark.parametrize("smoothing", K.SMOOTHING)
def test_every_head_matches_one_process(ranks, name, smoothing):
    got = [r["margin"][(name, smoothing, tuple(K.LABELS))] for r in ranks]
    head = K.make_head(name, smoothing)
    x, y = K.features(), torch.tensor(K.LABELS)
    loss, x_grad, w_grads = reference(head, x, y)
    assert {g["rows"] for g in got} == {(0, 4), (4, 7)}
    for rank, g in enumerate(got):
        close(g["loss"], loss)  # the same global loss on every rank
        # the features' gradient is world x dL/dx (DDP's average over ranks undoes it)
        close(g["x_grad"] / K.WORLD, x_grad[K.rank_rows(rank)])
    for n, grad in w_grads.items():  # weight (C, D), softmax's bias (C,): the shards, joined
        close(torch.cat([g["grads"][n] for g in got]), grad)
    for n, buf in head.named_buffers():  # A-Softmax's iteration: once per step on every rank
        for g in got:
            assert torch.equal(g["buffers"][n], buf)


def test_asoftmax_when_one_rank_holds_no_target(ranks):
    got = [r["margin"][("asoftmax", 0.1, tuple(K.LOW_LABELS))] for r in ranks]
    head = K.make_head("asoftmax", 0.1)
    loss, x_grad, w_grads = reference(head, K.features(), torch.tensor(K.LOW_LABELS))
    for rank, g in enumerate(got):
        close(g["loss"], loss)
        close(g["x_grad"] / K.WORLD, x_grad[K.rank_rows(rank)])
        assert int(g["buffers"]["iteration"]) == 10**6 + 1
    close(torch.cat([g["grads"]["weight"] for g in got]), w_grads["weight"])


@pytest.mark.parametrize("name", ["softmax", "cosface"])
def test_bf16_features_under_autocast_on_two_ranks(ranks, name):
    loss, x_grad, _ = reference(K.make_head(name, 0.1), K.features(), torch.tensor(K.LABELS))
    for rank, r in enumerate(ranks):
        got = r["margin"][("bf16", name)]
        assert got["loss"].dtype == torch.float32 and got["x_grad"].dtype == torch.float32
        close(got["loss"].double(), loss, atol=0.05, rtol=0.02)  # bf16 rounding of x (and W x)
        close(got["x_grad"].double() / K.WORLD, x_grad[K.rank_rows(rank)], atol=0.02, rtol=0.1)


@pytest.mark.parametrize("name", K.head_names())
def test_state_dict_is_the_whole_head_and_to_head_gives_it(ranks, name):
    whole = K.make_head(name, 0.1).state_dict()
    stepped = K.make_head(name, 0.1)
    stepped(K.features(), torch.tensor(K.LABELS))  # the schedule one step on
    for g in (r["margin"][(name, 0.1, tuple(K.LABELS))] for r in ranks):
        assert list(g["state0"]) == list(whole)
        for k, v in whole.items():
            assert torch.equal(g["state0"][k], v), k
        # after the training forward (no optimizer step): the same matrix, the schedule on
        assert list(g["to_head"]) == list(whole)
        for k, v in stepped.state_dict().items():
            assert torch.equal(g["to_head"][k], v), k


# -- 2 processes, sample_rate < 1 -------------------------------------------------------------

def sampled_reference(name: str, kept: torch.Tensor, step: int):
    """The plain head restricted to the kept centers (global ids, sorted), labels renumbered."""
    full = K.make_head(name, 0.1, K.SAMPLED_C)
    sub = K.make_head(name, 0.1, len(kept))
    state = {k: (v[kept] if v.ndim and v.shape[0] == K.SAMPLED_C else v)
             for k, v in full.state_dict().items()}
    sub.load_state_dict(state)
    if hasattr(sub, "iteration"):
        sub.iteration.add_(step)
    y = torch.searchsorted(kept, torch.tensor(K.SAMPLED_LABELS))
    return reference(sub, K.features(), y)


@pytest.mark.parametrize("name", K.head_names())
def test_sampled_loss_is_the_head_on_the_kept_centers(ranks, name):
    per_rank = [r["sampled"][name] for r in ranks]
    labels = torch.tensor(K.SAMPLED_LABELS)
    draws = []
    for step in range(K.SAMPLED_STEPS):
        got = [p["steps"][step] for p in per_rank]
        for p, g in zip(per_rank, got, strict=True):
            start, end = p["rows"]
            kept = g["kept"]
            positives = labels[(labels >= start) & (labels < end)].unique()
            assert p["num_sample"] == 6 and len(kept) == 6  # int(0.3 * 20), 3 positives
            assert torch.equal(kept, kept.unique())  # sorted, no repeats
            assert bool(((kept >= start) & (kept < end)).all())
            assert set(positives.tolist()) <= set(kept.tolist())
        kept = torch.cat([g["kept"] for g in got])
        draws.append(kept)
        loss, x_grad, w_grads = sampled_reference(name, kept, step)
        for rank, g in enumerate(got):
            close(g["loss"], loss)
            close(g["x_grad"] / K.WORLD, x_grad[K.rank_rows(rank)])
        for n, grad in w_grads.items():
            whole = torch.cat([g["grads"][n] for g in got])  # (40, ...)
            close(whole[kept], grad)
            dropped = torch.ones(K.SAMPLED_C, dtype=torch.bool)
            dropped[kept] = False
            assert bool((whole[dropped] == 0).all())  # unkept centers get no gradient
    assert not torch.equal(draws[0], draws[1])  # a new draw each step


def test_sampling_repeats_on_resume_and_follows_the_seed(ranks):
    for r in ranks:  # a fresh PartialFC with sample_step restored to 1 draws step 1 again
        assert torch.equal(r["sampled"]["resumed_kept"],
                           r["sampled"]["cosface"]["steps"][1]["kept"])
    first = [r["sampled"]["cosface"]["steps"][s]["kept"] for r in ranks
             for s in range(K.SAMPLED_STEPS)]
    other = [k for r in ranks for k in r["sampled"]["other_seed_kept"]]
    assert any(not torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_a_rate_below_the_positives_keeps_only_the_positives(ranks):
    labels = torch.tensor(K.SAMPLED_LABELS)
    got = [r["sampled"]["few"] for r in ranks]
    kept = torch.cat([g["kept"] for g in got])
    assert got[0]["num_sample"] == 2
    assert torch.equal(kept, labels.unique())
    full = K.make_head("cosface", 0.0, K.SAMPLED_C)
    sub = K.make_head("cosface", 0.0, len(kept))
    sub.weight.data.copy_(full.weight.data[kept])
    loss, x_grad, w_grads = reference(sub, K.features(), torch.searchsorted(kept, labels))
    for rank, g in enumerate(got):
        close(g["loss"], loss)
        close(g["x_grad"] / K.WORLD, x_grad[K.rank_rows(rank)])
    close(torch.cat([g["grads"]["weight"] for g in got])[kept], w_grads["weight"])


# -- 2 processes: DDP + PartialFC training, checkpoints across process counts ---------------

def train_one(net: nn.Module, opt: torch.optim.Optimizer, steps) -> list[torch.Tensor]:
    losses = []
    for s in steps:
        x, y = K.net_batch(s)
        loss, _ = net(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses


def assert_states(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        close(a[k], b[k], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("head", K.NET_HEADS)
def test_ddp_and_partial_fc_train_like_one_process(ranks, head):
    net = K.make_net(0, head)
    losses = train_one(net, K.sgd(net), range(K.STEPS))
    for r in ranks:
        got = r["net"][head]
        close(torch.stack(got["losses"]), torch.stack(losses))
        assert_states(got["final"], net.state_dict())  # the plain Net's keys and shapes
    if head == "asoftmax":
        assert all(int(r["net"][head]["buffers"]["iteration"]) == K.STEPS for r in ranks)


@pytest.mark.parametrize("head", K.NET_HEADS)
def test_a_two_process_checkpoint_resumes_in_one(ranks, head):
    ref = K.make_net(0, head)
    train_one(ref, K.sgd(ref), range(K.STEPS))
    snap = ranks[0]["net"][head]["snapshot"]
    net = K.make_net(7, head)  # another init: loading must overwrite all of it
    net.load_state_dict(snap["model"])
    opt = K.sgd(net)
    opt.load_state_dict(snap["optimizer"])  # the momentum of the whole matrix
    train_one(net, opt, range(K.SPLIT, K.STEPS))
    assert_states(net.state_dict(), ref.state_dict())


@pytest.mark.parametrize("head", K.NET_HEADS)
def test_a_one_process_checkpoint_resumes_in_two(ranks, head):
    ref = K.make_net(0, head)
    train_one(ref, K.sgd(ref), range(K.STEPS))
    for r in ranks:
        assert_states(r["net"][head]["resumed"], ref.state_dict())


def test_clipping_sees_the_whole_matrix_like_one_process(ranks):
    net = K.make_net(0, "softmax")
    opt = K.sgd(net)
    norms = []
    for s in range(K.STEPS):
        x, y = K.net_batch(s)
        loss, _ = net(x, y)
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(net.parameters(), K.CLIP))
        opt.step()
    assert min(norms) > K.CLIP
    for r in ranks:
        close(torch.stack(r["net"]["clipped"]["norms"]), torch.stack(norms))
        assert_states(r["net"]["clipped"]["final"], net.state_dict())


# -- one process ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", K.head_names())
def test_one_process_is_exactly_the_plain_head(name):
    net = K.make_net(0, name)
    backbone, pfc = shard(net, 0, 1)
    x, y = K.net_batch(0)
    loss = pfc(backbone(x), y)
    loss.backward()
    grads = [p.grad.clone() for p in list(backbone.parameters()) + list(pfc.parameters())]
    ref = K.make_net(0, name)
    ref_loss, _ = ref(x, y)
    ref_loss.backward()
    assert torch.equal(loss, ref_loss)
    for g, p in zip(grads, ref.parameters(), strict=True):
        assert torch.equal(g, p.grad)
    assert list(pfc.state_dict()) == list(ref.head.state_dict())


@pytest.mark.parametrize("smoothing", K.SMOOTHING)
def test_sharded_cross_entropy_in_one_process_is_f_cross_entropy(smoothing):
    g = torch.Generator().manual_seed(3)
    z = (torch.randn(6, 5, generator=g, dtype=torch.float64) * 4).requires_grad_(True)
    t = torch.tensor([0, 4, 2, 1, 3, 3])
    got = _ShardedCrossEntropy.apply(z, t, smoothing, 5, None, 1)
    close(got, F.cross_entropy(z, t, label_smoothing=smoothing))
    assert torch.autograd.gradcheck(
        lambda zz: _ShardedCrossEntropy.apply(zz, t, smoothing, 5, None, 1), (z,))


@pytest.mark.parametrize("name", K.head_names())
def test_one_process_sampling_is_the_head_on_the_kept_centers(name):
    pfc = PartialFC(K.make_head(name, 0.1, K.SAMPLED_C), sample_rate=K.SAMPLED_RATE, seed=2)
    x = K.features().requires_grad_(True)
    loss = pfc(x, torch.tensor(K.SAMPLED_LABELS))
    loss.backward()
    kept = pfc.last_kept
    assert len(kept) == int(K.SAMPLED_RATE * K.SAMPLED_C) == pfc.num_sample  # 12 of one shard
    ref_loss, ref_x, ref_w = sampled_reference(name, kept, 0)
    close(loss.detach(), ref_loss)
    close(x.grad, ref_x)
    close(pfc.head.weight.grad[kept], ref_w["weight"])


def test_negatives_are_uniform_and_positives_always_kept():
    positive = torch.tensor([2, 7, 11])
    counts = torch.zeros(20)
    draws = 3000
    for step in range(draws):
        kept = sample_centers(positive, 20, 8, draw_seed(0, step, 1))
        assert len(kept) == 8 and torch.equal(kept, kept.unique())
        assert set(positive.tolist()) <= set(kept.tolist())
        counts[kept] += 1
    assert bool((counts[positive] == draws).all())
    negatives = torch.ones(20, dtype=torch.bool)
    negatives[positive] = False
    freq = counts[negatives] / draws  # each negative: 5 of 17 slots, binomial std ~0.0083
    assert float((freq - 5 / 17).abs().max()) < 0.04
    assert torch.equal(sample_centers(positive, 20, 8, 99), sample_centers(positive, 20, 8, 99))
    assert torch.equal(sample_centers(positive, 20, 2, 99), positive)  # more positives than 2
    seeds = {draw_seed(s, t, r) for s in range(3) for t in range(50) for r in range(4)}
    assert len(seeds) == 600


def test_shard_bounds_split_evenly_with_the_remainder_first():
    assert [shard_bounds(7, 2, r) for r in range(2)] == [(0, 4), (4, 7)]
    assert [shard_bounds(10, 4, r) for r in range(4)] == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert [shard_bounds(3, 3, r) for r in range(3)] == [(0, 1), (1, 2), (2, 3)]


def test_loading_a_state_takes_the_whole_matrix_only():
    pfc = PartialFC(CosFace(4, 6))
    with pytest.raises(RuntimeError, match="whole class matrix"):
        pfc.load_state_dict({"weight": torch.zeros(3, 4)})


class _OwnForward(CosFace):
    def forward(self, features, labels):
        return super().forward(features, labels) * 2


@pytest.mark.parametrize("make, match", [
    (lambda: PartialFC(CosFace(4, 6), sample_rate=0.0), "sample_rate must be in"),
    (lambda: PartialFC(CosFace(4, 6), sample_rate=1.5), "sample_rate must be in"),
    (lambda: PartialFC(CosFace(4, 6), sample_rate=float("nan")), "sample_rate must be in"),
    (lambda: PartialFC(nn.Linear(4, 6)), "wraps a margin head"),
    (lambda: PartialFC(_OwnForward(4, 6)), "overrides forward"),
    (lambda: PartialFC(CosFace(4, 1), rank=0, world=2), "1 classes cannot be split over 2"),
    (lambda: PartialFC(CosFace(4, 6), rank=0, world=2), "needs an initialized process group"),
    (lambda: shard(nn.Linear(4, 6), 0, 1), "splits a hypercli Net"),
])
def test_bad_input_is_one_line(make, match):
    with pytest.raises(HyperError, match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_bad_labels_are_one_line():
    pfc = PartialFC(CosFace(4, 6), sample_rate=0.5)
    x = torch.randn(3, 4)
    with pytest.raises(HyperError, match="integer class ids"):
        pfc(x, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(HyperError, match=r"lie in \[0, 6\), got 6"):
        pfc(x, torch.tensor([0, 6, 2]))


def test_eval_mode_uses_every_center_and_keeps_the_step():
    head = K.make_head("cosface", 0.1, K.SAMPLED_C)
    pfc = PartialFC(K.make_head("cosface", 0.1, K.SAMPLED_C), sample_rate=K.SAMPLED_RATE).eval()
    x, y = K.features(), torch.tensor(K.SAMPLED_LABELS)
    assert torch.equal(pfc(x, y), head(x, y))
    assert int(pfc.sample_step) == 0


def test_bf16_autocast_gives_a_float32_loss_near_the_float64_one():
    """The project's CPU amp: logits and the sharded cross-entropy stay in float32."""
    for name in ("softmax", "asoftmax"):
        pfc = PartialFC(K.make_head(name, 0.1, K.SAMPLED_C).float(), sample_rate=0.5)
        x = K.features().float().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = pfc(x, torch.tensor(K.SAMPLED_LABELS))
        loss.backward()
        assert loss.dtype == torch.float32 and bool(torch.isfinite(x.grad).all())
        kept = pfc.last_kept
        ref_loss, _, _ = sampled_reference(name, kept, 0)
        close(loss.double(), ref_loss, atol=0.05, rtol=0.02)  # bf16 matmul of the softmax head


def test_clipping_in_one_process_is_torchs():
    net, ref = K.make_net(0, "softmax"), K.make_net(0, "softmax")
    backbone, pfc = shard(net, 0, 1)
    x, y = K.net_batch(0)
    pfc(backbone(x), y).backward()
    ref(x, y)[0].backward()
    total = clip_grad_norm_(backbone.parameters(), K.CLIP, pfc)
    close(total, nn.utils.clip_grad_norm_(ref.parameters(), K.CLIP))
    mine = list(backbone.parameters()) + list(pfc.parameters())
    for p, q in zip(mine, ref.parameters(), strict=True):
        close(p.grad, q.grad)
