"""Time a Plain-CNN-9 training step with each registered conv operator against nn.Conv2d.

The same network (hypercli.models "plain-cnn-9": 3x3 convs 64/128/256 x3, pools, a 4x4
conv to 256 features, BatchNorm + ReLU, CIFAR-shaped input) is built once per operator;
one step is forward + cross-entropy + backward + SGD. Steps are interleaved across
operators (round-robin) so that machine load hits all alike; the median and the minimum
(the least disturbed step, the better number on a shared machine) are reported with their
ratios to ``conv``. The defaults are a reduced size that runs in about a minute on
2 CPU cores; ``--width 1 --batch 128`` is the authors' full setting.

    python benchmarks/ops.py                          # width 0.5, batch 32
    python benchmarks/ops.py --width 1 --batch 128 --repeats 10
    python benchmarks/ops.py --ops conv sphere sphere:linear dc-tanh --json
    python benchmarks/ops.py --clock cpu --threads 1     # on a busy shared machine
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.registry import CONVS, MODELS


def build(op: str, width: float, num_classes: int = 10) -> nn.Module:
    """Plain-CNN-9 with operator ``op`` (``name`` or ``name:angle``) and a linear classifier."""
    name, _, angle = op.partition(":")
    conv = CONVS.get(name)
    if angle:
        conv = functools.partial(conv, angle=angle)
    widths = tuple(max(1, round(w * width)) for w in (64, 128, 256))
    final = max(1, round(256 * width))
    body, dim = MODELS.get("plain-cnn-9")(in_channels=3, image_size=32, conv=conv,
                                          linear=nn.Linear, widths=widths, final_width=final)
    return nn.Sequential(body, nn.Linear(dim, num_classes))


def step_time(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
              y: torch.Tensor, clock=time.perf_counter) -> float:
    t0 = clock()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return clock() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", nargs="+", default=None,
                        help="operators, name or name:angle (default: every registered conv "
                             "plus sphere:linear and sphere:sigmoid)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=float, default=0.5, help="width multiplier (1 = full)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (on a shared "
                             "machine use --clock cpu --threads 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ops = args.ops or ["conv", *[n for n in CONVS.names() if n != "conv"],
                       "sphere:linear", "sphere:sigmoid"]
    if "conv" not in ops:
        ops = ["conv", *ops]
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    runs = {}
    for op in ops:
        model = build(op, args.width)
        runs[op] = (model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
        for _ in range(args.warmup):
            step_time(*runs[op], x, y)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    times: dict[str, list[float]] = {op: [] for op in ops}
    for _ in range(args.repeats):
        for op in ops:  # interleaved: load spikes hit every operator alike
            times[op].append(step_time(*runs[op], x, y, clock))
    med, low = statistics.median(times["conv"]), min(times["conv"])
    rows = {op: {"median_ms": 1e3 * statistics.median(t), "ratio": statistics.median(t) / med,
                 "min_ms": 1e3 * min(t), "min_ratio": min(t) / low}
            for op, t in times.items()}
    setting = {"batch": args.batch, "width": args.width, "repeats": args.repeats,
               "threads": torch.get_num_threads(), "clock": args.clock,
               "torch": torch.__version__}
    if args.json:
        print(json.dumps({"setting": setting, "ops": rows}))
        return
    print(f"Plain-CNN-9 training step, batch {args.batch}, width x{args.width}, "
          f"{args.repeats} interleaved repeats, {setting['threads']} threads, {args.clock} clock")
    print(f"{'operator':<18}{'median ms':>11}{'x conv':>9}{'min ms':>10}{'x conv':>9}")
    for op, r in rows.items():
        print(f"{op:<18}{r['median_ms']:>11.1f}{r['ratio']:>9.3f}{r['min_ms']:>10.1f}"
              f"{r['min_ratio']:>9.3f}")


if __name__ == "__main__":
    main()
