"""MHE overhead: one Plain-CNN-9 training step (CIFAR-100 shapes) with and without MHE.

Target: MHE on every layer adds at most 10% to a step on the CPU. Steps of each variant
are interleaved round by round (so load from other processes hits all alike) and the
median is kept; prints the step time of each, its ratio to the plain step, and (robust to
load that changes between steps) the time of the MHE term over the rest of the same step.

    python benchmarks/mhe.py                      # batch 128, 5 rounds, CPU
    python benchmarks/mhe.py --batch 32 --rounds 3 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hypercli.models import create_model
from hypercli.recipe import load_recipe
from hypercli.registry import REGULARIZERS

VARIANTS = [  # label -> mhe args (None: no regularizer)
    ("plain step (no MHE)", None),
    ("MHE s=1, all layers", {"s": "1"}),
    ("half-space MHE s=0", {"s": "0", "half_space": True}),
    ("MHE a2 (angular), all layers", {"s": "a2"}),
    ("MHE s=1, classifier only", {"s": "1", "layers": "classifier"}),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: unchanged)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    recipe = load_recipe("cifar100-mhe")
    x = torch.rand(args.batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 100, (args.batch,), device=dev)
    setups = []
    for label, mhe_args in VARIANTS:
        model = create_model(recipe, 100, 3, 32).to(dev).train()
        reg = None
        if mhe_args is not None:
            reg = REGULARIZERS.create("mhe", **mhe_args)
            reg.attach(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        setups.append((label, model, reg, opt))

    def step(model, reg, opt) -> tuple[float, float]:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _ = model(x, y)
        t_mhe = 0.0
        if reg is not None:
            t1 = time.perf_counter()
            term, _ = reg.loss()  # energies, logs and the whole MHE gradient (blockwise)
            t_mhe = time.perf_counter() - t1
            loss = loss + term
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, t_mhe

    times: dict[str, list[float]] = {label: [] for label, *_ in setups}
    shares: dict[str, list[float]] = {label: [] for label, *_ in setups}
    for _label, model, reg, opt in setups:  # warm-up
        step(model, reg, opt)
    for _ in range(args.rounds):
        for label, model, reg, opt in setups:
            total, mhe = step(model, reg, opt)
            times[label].append(total)
            shares[label].append(mhe / (total - mhe))
    base = statistics.median(times[setups[0][0]])
    print(f"Plain-CNN-9, CIFAR-100 shapes, batch {args.batch}, {dev}, "
          f"{torch.get_num_threads()} threads, median of {args.rounds} interleaved rounds")
    print("| variant | step ms | ratio to plain | MHE time / rest of its own step |")
    print("|---|---:|---:|---:|")
    for label, *_ in setups:
        med = statistics.median(times[label])
        share = statistics.median(shares[label])
        print(f"| {label} | {med * 1e3:.1f} | {med / base:.3f} | {share:.3f} |")


if __name__ == "__main__":
    main()
