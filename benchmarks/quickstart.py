"""The main job against the old one: whole ``hyper train`` commands, timed side by side.

Runs ``hyper train --recipe NEW --set seed=S`` and ``hyper train --recipe OLD --set seed=S``
as subprocesses, one after the other for each seed (so machine load hits both alike), and
times each whole command (interpreter start, data loading, training, evaluation, files).
Prints each run, then the mean and spread (sample std) of test accuracy and wall time per
recipe and the wall-time ratio NEW / OLD (target: <= 0.5 with NEW's mean accuracy >=
92.5%). ``--candidates`` adds the variants the default recipe was chosen from.

    python benchmarks/quickstart.py [--seeds 0 1 2] [--new fmnist-quick] [--old fmnist-classic]
                                    [--candidates] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The variants fmnist-quick was chosen from: (name, recipe, --set overrides).
BS128 = ["data.batch_size=128", "optimizer.lr=0.1"]
CANDIDATES = [
    ("classic + channels_last", "fmnist-classic", ["train.channels_last=true"]),
    ("classic + channels_last + bf16, LS, flip TTA", "fmnist-quick", BS128 + [
        "train.eval_every=1", "data.eval_batch_size=1000"]),
    ("the same, 3 epochs", "fmnist-quick", BS128 + ["train.epochs=3"]),
    ("the same, 4 epochs, test set once", "fmnist-quick", BS128),
    ("3 epochs, lr 0.2", "fmnist-quick", BS128 + ["train.epochs=3", "optimizer.lr=0.2"]),
    ("3 epochs, batch 256, lr 0.4", "fmnist-quick", ["train.epochs=3", "optimizer.lr=0.4"]),
    ("3.5 epochs, batch 256, lr 0.4", "fmnist-quick", ["train.epochs=3.5", "optimizer.lr=0.4"]),
    ("widths 16/64/128", "fmnist-quick", BS128 + ["model.args.widths=[16,64,128]"]),
    ("widths 24/48/96", "fmnist-quick", BS128 + ["model.args.widths=[24,48,96]",
                                                 "model.args.final_width=96"]),
]


def run(recipe: str, sets: list[str], seed: int, out: Path) -> dict:
    """One whole ``hyper train`` command: test accuracy and wall seconds."""
    cmd = [sys.executable, "-m", "hypercli", "train", "--recipe", recipe, "--out", str(out),
           "--json", "--no-progress", "--set", f"seed={seed}"]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    return {"recipe": recipe, "sets": sets, "seed": seed, "accuracy": summary["test_accuracy"],
            "wall_seconds": wall, "train_seconds": summary["train_seconds"]}


def mean_sd(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--new", default="fmnist-quick")
    ap.add_argument("--old", default="fmnist-classic")
    ap.add_argument("--candidates", action="store_true", help="also time the variants (seed 0)")
    ap.add_argument("--out", type=Path, default=None, help="keep the run folders here")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="hyper-quickstart-"))
    rows: list[dict] = []
    for seed in args.seeds:
        for label, recipe in (("new", args.new), ("old", args.old)):
            r = run(recipe, [], seed, root / f"{label}-{seed}")
            r["label"] = label
            rows.append(r)
            print(f"{recipe:<16} seed {seed}: {r['accuracy']:.2%} in {r['wall_seconds']:.1f} s "
                  f"(training {r['train_seconds']:.1f} s)", flush=True)
    if args.candidates:
        for i, (name, recipe, sets) in enumerate(CANDIDATES):
            r = run(recipe, sets, args.seeds[0], root / f"candidate-{i}")
            r["label"] = name
            rows.append(r)
            print(f"{name:<34} seed {args.seeds[0]}: {r['accuracy']:.2%} in "
                  f"{r['wall_seconds']:.1f} s", flush=True)
    print()
    print("| recipe | seeds | test accuracy (mean ± sd) | wall time (mean ± sd) |")
    print("|---|---:|---:|---:|")
    walls = {}
    for label, recipe in (("new", args.new), ("old", args.old)):
        sel = [r for r in rows if r["label"] == label]
        acc, acc_sd = mean_sd([r["accuracy"] for r in sel])
        wall, wall_sd = mean_sd([r["wall_seconds"] for r in sel])
        walls[label] = wall
        print(f"| `{recipe}` | {len(sel)} | {acc:.2%} ± {acc_sd:.2%} | "
              f"{wall:.1f} s ± {wall_sd:.1f} s |")
    print(f"\nwall-time ratio {args.new} / {args.old}: {walls['new'] / walls['old']:.3f} "
          "(target <= 0.5)")
    (root / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"runs and results.json in {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
