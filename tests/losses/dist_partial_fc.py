"""Run under torchrun (2 gloo processes): every PartialFC computation the tests check, each
rank saving its results to OUT.<rank>.pt (the tests compare them with one process).

    python -m torch.distributed.run --nproc-per-node 2 tests/losses/dist_partial_fc.py OUT
"""

from __future__ import annotations

import copy
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

sys.path.insert(0, os.getcwd())

from hypercli.losses.partial_fc import PartialFC, clip_grad_norm_, shard  # noqa: E402
from tests.losses import pfc_cases as K  # noqa: E402


def grads(pfc: PartialFC) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in pfc.head.named_parameters()}


def margin_cases(rank: int) -> dict:
    """Loss and gradients of every head, sample_rate 1, both smoothings, and A-Softmax with
    every target on shard 0."""
    x_all = K.features()
    out = {}
    cases = [(name, ls, K.LABELS) for name in K.head_names() for ls in K.SMOOTHING]
    cases.append(("asoftmax", 0.1, K.LOW_LABELS))
    for name, ls, labels in cases:
        pfc = PartialFC(K.make_head(name, ls))
        state0 = {k: v.clone() for k, v in pfc.state_dict().items()}  # not the live buffers
        x = x_all[K.rank_rows(rank)].clone().requires_grad_(True)
        y = torch.tensor(labels)[K.rank_rows(rank)]
        loss = pfc(x, y)
        loss.backward()
        out[(name, ls, tuple(labels))] = {
            "loss": loss.detach(), "x_grad": x.grad, "grads": grads(pfc),
            "rows": (pfc.start, pfc.end), "state0": state0,
            "buffers": {n: b.clone() for n, b in pfc.head.named_buffers()},
            "to_head": pfc.to_head().state_dict(),
        }
    for name in ("softmax", "cosface"):  # the project's CPU amp: bf16 features on the wire
        pfc = PartialFC(K.make_head(name, 0.1).float())
        x = x_all[K.rank_rows(rank)].float().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = pfc(nn.functional.linear(x, torch.eye(K.D)), torch.tensor(K.LABELS)[
                K.rank_rows(rank)])  # an autocast op: bf16 features, as from an embed layer
        loss.backward()
        out[("bf16", name)] = {"loss": loss.detach(), "x_grad": x.grad}
    return out


def sampled_cases(rank: int) -> dict:
    """sample_rate < 1 over a few steps, for every head; a rate below the positives; the
    draw again at a restored step and with another seed."""
    x_all = K.features()
    y = torch.tensor(K.SAMPLED_LABELS)[K.rank_rows(rank)]
    out = {}
    for name in K.head_names():
        pfc = PartialFC(K.make_head(name, 0.1, K.SAMPLED_C), sample_rate=K.SAMPLED_RATE, seed=5)
        steps = []
        for _ in range(K.SAMPLED_STEPS):
            pfc.zero_grad()
            x = x_all[K.rank_rows(rank)].clone().requires_grad_(True)
            loss = pfc(x, y)
            loss.backward()
            steps.append({"loss": loss.detach(), "kept": pfc.last_kept.clone(),
                          "x_grad": x.grad, "grads": grads(pfc)})
        out[name] = {"steps": steps, "num_sample": pfc.num_sample, "rows": (pfc.start, pfc.end)}
    x = x_all[K.rank_rows(rank)]
    again = PartialFC(K.make_head("cosface", 0.1, K.SAMPLED_C), sample_rate=K.SAMPLED_RATE,
                      seed=5)
    again.sample_step.fill_(1)  # as restored on resume after one step
    again(x, y)
    out["resumed_kept"] = again.last_kept
    other = PartialFC(K.make_head("cosface", 0.1, K.SAMPLED_C), sample_rate=K.SAMPLED_RATE,
                      seed=6)
    out["other_seed_kept"] = []
    for _ in range(K.SAMPLED_STEPS):
        other(x, y)
        out["other_seed_kept"].append(other.last_kept)
    few = PartialFC(K.make_head("cosface", 0.0, K.SAMPLED_C), sample_rate=K.FEW_RATE)
    xf = x_all[K.rank_rows(rank)].clone().requires_grad_(True)
    loss = few(xf, y)
    loss.backward()
    out["few"] = {"loss": loss.detach(), "kept": few.last_kept, "x_grad": xf.grad,
                  "grads": grads(few), "num_sample": few.num_sample}
    return out


def ddp_steps(ddp, pfc, opt, rank, steps, clip=None) -> list[torch.Tensor]:
    """SGD steps; the losses, or with ``clip`` the total gradient norms before clipping."""
    out = []
    for s in steps:
        x, y = K.net_batch(s)
        rows = K.rank_rows(rank, (K.PER_RANK,) * K.WORLD)
        loss = pfc(ddp(x[rows]), y[rows])
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            out.append(clip_grad_norm_(ddp.module.parameters(), clip, pfc))
        opt.step()
        if clip is None:
            out.append(loss.detach())
    return out


def net_cases(rank: int, world: int) -> dict:
    """SGD (momentum, weight decay) under DDP + PartialFC, with a checkpoint mid-way; and a
    run resumed in 2 processes from a 1-process checkpoint."""
    out = {}
    for head in K.NET_HEADS:
        backbone, pfc = shard(K.make_net(0, head), rank, world)
        model = nn.ModuleDict(dict(backbone.named_children(), head=pfc))
        opt = K.sgd(model)
        ddp = nn.parallel.DistributedDataParallel(backbone)
        losses = ddp_steps(ddp, pfc, opt, rank, range(K.SPLIT))
        snap = copy.deepcopy({"model": model.state_dict(),  # a copy, as torch.save writes
                              "optimizer": pfc.gather_optimizer_state(opt)})
        losses += ddp_steps(ddp, pfc, opt, rank, range(K.SPLIT, K.STEPS))
        final = model.state_dict()
        # a 1-process run of SPLIT steps on the whole batch, resumed here in 2 processes
        one = K.make_net(0, head)
        opt1 = K.sgd(one)
        for s in range(K.SPLIT):
            x, y = K.net_batch(s)
            loss, _ = one(x, y)
            opt1.zero_grad()
            loss.backward()
            opt1.step()
        backbone2, pfc2 = shard(K.make_net(123, head), rank, world)  # another init, overwritten
        model2 = nn.ModuleDict(dict(backbone2.named_children(), head=pfc2))
        model2.load_state_dict(one.state_dict())
        opt2 = K.sgd(model2)
        pfc2.load_optimizer_state(opt2, opt1.state_dict())
        ddp2 = nn.parallel.DistributedDataParallel(backbone2)
        ddp_steps(ddp2, pfc2, opt2, rank, range(K.SPLIT, K.STEPS))
        out[head] = {"losses": losses, "snapshot": snap, "final": final,
                     "resumed": model2.state_dict(),
                     "buffers": {n: b.clone() for n, b in pfc.head.named_buffers()},
                     "state_keys": list(final)}
    backbone, pfc = shard(K.make_net(0, "softmax"), rank, world)
    model = nn.ModuleDict(dict(backbone.named_children(), head=pfc))
    opt = K.sgd(model)
    ddp = nn.parallel.DistributedDataParallel(backbone)
    norms = ddp_steps(ddp, pfc, opt, rank, range(K.STEPS), clip=K.CLIP)
    out["clipped"] = {"norms": norms, "final": model.state_dict()}
    return out


def main() -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    assert world == K.WORLD
    results = {"margin": margin_cases(rank), "sampled": sampled_cases(rank),
               "net": net_cases(rank, world)}
    torch.save(results, f"{sys.argv[1]}.{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
