"""GPU fast path benchmark: one short script, a table of times and ratios (< 5 minutes).

On a CUDA machine it times, side by side:
  * a training epoch of the CIFAR-100 Plain-CNN-9 recipe on synthetic CIFAR-shaped data
    (50k images, batch 128), for nn.Conv2d, SphereConv and decoupled operators, MHE on/off,
    bf16 autocast on/off and torch.compile on/off (ratios against the plain conv, AMP on);
  * ``hyper mhe-solve`` at N = 470, d = 3;
  * an FGSM and a 10-step PGD batch against torchattacks on the same model.
``--quick`` shrinks everything so the script can be checked on a CPU.

    python benchmarks/gpu.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from hypercli.engine import train
from hypercli.recipe import load_recipe


def epoch_seconds(overrides: list[str], quick: bool, device: str) -> float:
    """Seconds of the second training epoch (the first one warms up and compiles)."""
    size = 2048 if quick else 50000
    base = ["data.name=synthetic", "data.root=null", "train.eval_every=0", "train.epochs=2",
            f"train.device={device}",
            "data.args={num_classes: 100, channels: 3, image_size: 32, "
            f"train_size: {size}, test_size: 256}}"]
    if quick:
        base.append("model.args={widths: [8, 16, 32], final_width: 32}")
    recipe = load_recipe("cifar100-baseline", base + overrides)
    with tempfile.TemporaryDirectory() as d:
        summary = train(recipe, out_dir=f"{d}/run", progress=False)
    return summary["history"][-1]["seconds"]


def cuda_time(fn, repeats: int = 5) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats


def attacks_vs_torchattacks(quick: bool, device: str) -> list[tuple[str, float, float]]:
    import torchattacks

    from hypercli.attacks import create_attack
    from hypercli.models import create_model

    recipe = load_recipe("cifar100-baseline")
    if quick:
        recipe = load_recipe("cifar100-baseline",
                             ["model.args={widths: [8, 16, 32], final_width: 32}"])
    model = create_model(recipe, 100, 3, 32).to(device).eval()
    n = 64 if quick else 512
    x = torch.rand(n, 3, 32, 32, device=device)
    y = torch.randint(0, 100, (n,), device=device)
    rows = []
    for name, ours, theirs in [
        ("FGSM eps 8/255", create_attack("fgsm", model, eps=8),
         torchattacks.FGSM(model, eps=8 / 255)),
        ("PGD eps 8/255, 10 steps", create_attack("pgd", model, eps=8, alpha=2, steps=10),
         torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10)),
    ]:
        rows.append((name, cuda_time(lambda a=ours: a(x, y)), cuda_time(lambda a=theirs: a(x, y))))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a CPU check")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    dev = args.device
    name = torch.cuda.get_device_name() if dev == "cuda" else "CPU"
    print(f"# hyper GPU benchmark on {name}, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    if dev != "cuda":
        print("(not a GPU: autocast and compile are off, so 'bf16' rows run in fp32)\n")

    variants = [
        ("nn.Conv2d, bf16", []),
        ("nn.Conv2d, fp32", ["train.amp=false"]),
        ("SphereConv (cosine), bf16", ["model.conv=sphere"]),
        ("TanhConv (dc-tanh), bf16", ["model.conv=dc-tanh"]),
        ("BallConv (dc-ball), bf16", ["model.conv=dc-ball"]),
        ("nn.Conv2d + MHE s=1, bf16", ["regularizers=[{name: mhe, args: {s: '1'}}]"]),
        ("SphereConv + MHE half-space, bf16",
         ["model.conv=sphere", "regularizers=[{name: mhe, args: {s: '1', half_space: true}}]"]),
    ]
    if dev == "cuda":
        variants += [("nn.Conv2d, bf16, compiled", ["train.compile=true"]),
                     ("SphereConv, bf16, compiled", ["model.conv=sphere", "train.compile=true"])]
    print("| training epoch, CIFAR-100 Plain-CNN-9, batch 128 | seconds | ratio |")
    print("|---|---:|---:|")
    base = None
    for label, overrides in variants:
        sec = epoch_seconds(overrides, args.quick, dev)
        base = base or sec
        print(f"| {label} | {sec:.2f} | {sec / base:.2f} |", flush=True)

    from hypercli.mhe.thomson import solve

    # N=470 needs thousands of restarts (cut-and-splice children of the best minima)
    n, restarts, pop = (40, 4, 4) if args.quick else (470, 4000, 400)
    t0 = time.perf_counter()
    res = solve(n, 3, "1", restarts=restarts, population=pop, seed=0, device=dev)
    print(f"\n| mhe-solve N={n} d=3 s=1, {restarts} restarts | {time.perf_counter() - t0:.1f} s | "
          f"energy {res.energy:.9f} (published N=470: 104822.886324279) |")
    print("\n| attack batch (Plain-CNN-9) | hyper ms | torchattacks ms | speed-up |")
    print("|---|---:|---:|---:|")
    for label, ours, theirs in attacks_vs_torchattacks(args.quick, dev):
        print(f"| {label} | {ours * 1e3:.1f} | {theirs * 1e3:.1f} | {theirs / ours:.2f} |")


if __name__ == "__main__":
    main()
