"""Attack throughput: hyper's attacks against torchattacks 3.5.1, same model, batch and seed.

Prints images/s of each side and the ratio hyper / torchattacks (target: >= 1), after
checking that both produce the same adversarial images. Rounds alternate between the two
implementations and the median is kept, so load from other processes hits both alike. On
the CPU the clock is the process's CPU time (robust to other jobs sharing the cores; with
--threads 1 it is the work done), on CUDA the synchronized wall clock.

    python benchmarks/attacks.py                       # plain-cnn-small, 28x28, batch 256
    python benchmarks/attacks.py --model linear        # a linear classifier: the attack's own cost
    python benchmarks/attacks.py --conv dc-tanh --device cuda --batch 1024
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchattacks
from torch import nn

from hypercli.models import create_model
from hypercli.recipe import load_recipe
from hypercli.registry import ATTACKS

CASES = {  # name -> (our kwargs, torchattacks constructor)
    "fgsm": ({"eps": 8 / 255}, lambda m: torchattacks.FGSM(m, eps=8 / 255)),
    "bim": ({"eps": 8 / 255, "alpha": 2 / 255, "steps": 10},
            lambda m: torchattacks.BIM(m, eps=8 / 255, alpha=2 / 255, steps=10)),
    "pgd": ({"eps": 8 / 255, "alpha": 2 / 255, "steps": 10},
            lambda m: torchattacks.PGD(m, eps=8 / 255, alpha=2 / 255, steps=10)),
    "pgd-l2": ({"eps": 1.0, "alpha": 0.2, "steps": 10},
               lambda m: torchattacks.PGDL2(m, eps=1.0, alpha=0.2, steps=10)),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, x, y, device: torch.device) -> float:
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    _sync(device)
    t0 = clock()
    fn(x, y)
    _sync(device)
    return clock() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="plain-cnn-small",
                   help="a registered model, or 'linear' (the attack's own overhead shows)")
    p.add_argument("--conv", default="conv", help="a registered conv operator (hyper list)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.model == "linear":
        model = nn.Sequential(nn.Flatten(), nn.Linear(args.size ** 2, 10)).to(device).eval()
    else:
        recipe = load_recipe(None, [f"model.name={args.model}", f"model.conv={args.conv}"])
        model = create_model(recipe, 10, 1, args.size).to(device).eval()
    x = torch.rand(args.batch, 1, args.size, args.size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    print(f"{args.model} ({args.conv}), batch {args.batch} of 1x{args.size}x{args.size}, "
          f"{device}, {torch.get_num_threads()} threads, median of {args.rounds} rounds, "
          f"{'wall clock' if device.type == 'cuda' else 'process CPU time'}")
    print(f"{'attack':8} {'hyper img/s':>12} {'torchattacks img/s':>19} {'ratio':>6}  same")
    for name, (kwargs, ref_ctor) in CASES.items():
        ours, ref = ATTACKS.create(name, model=model, **kwargs), ref_ctor(model)
        torch.manual_seed(0)
        a = ours(x, y)
        torch.manual_seed(0)
        b = ref(x, y)  # also the warm-up of both
        same = torch.equal(a, b)
        t_ours, t_ref = [], []
        for _ in range(args.rounds):
            t_ours.append(_time(ours, x, y, device))
            t_ref.append(_time(ref, x, y, device))
        mo, mr = statistics.median(t_ours), statistics.median(t_ref)
        print(f"{name:8} {args.batch / mo:12.0f} {args.batch / mr:19.0f} {mr / mo:6.2f}  "
              f"{'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
