"""Reproduce the README's MHE table on Fashion-MNIST: MHE, half-space MHE, class imbalance,
SphereFace+, each against its baseline at the recipes' full budget.

Liu et al., "Learning towards Minimum Hyperspherical Energy" (NeurIPS 2018, arXiv:1805.09298):
Sec. 5 (MHE and half-space MHE on every layer), Sec. 5 class-imbalance experiments ("single"
and "multiple"), Sec. 4.3 SphereFace+. Each recipe is trained from scratch with ``train`` and
scored on the test set: overall and per-class accuracy (the rare classes of the imbalanced
runs are classes 0, 2, 4, 6, 8), and the Coulomb (s=1) energy of the classifier and of the
first conv layer, the same kind for every row so that rows compare.

    python scripts/mhe_table.py                     # the full table (about 45 min on 2 cores)
    python scripts/mhe_table.py --epochs 1          # a shorter budget for every recipe
    python scripts/mhe_table.py --out DIR --reuse   # re-print finished runs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from _reproduce import finish, markdown_table, start  # scripts/_reproduce.py, beside this file
from rich.console import Console

from hypercli import load_checkpoint
from hypercli.data import load_data
from hypercli.engine import evaluate, train
from hypercli.engine.io import atomic_write_text
from hypercli.mhe import layer_energies
from hypercli.recipe import load_recipe

RECIPES = [  # (recipe, what the row shows) in the order of the table
    ("fmnist-classic", "softmax baseline"),
    ("fmnist-mhe", "MHE s=1, all layers"),
    ("fmnist-mhe-half", "half-space MHE s=1 on hidden layers"),
    ("fmnist-imbalance-single", "class 0 at 10%"),
    ("fmnist-imbalance-single-mhe", "class 0 at 10%, MHE on the classifier"),
    ("fmnist-imbalance-multiple", "classes 0, 2, 4, 6, 8 at 10-50%"),
    ("fmnist-imbalance-multiple-mhe", "classes 0, 2, 4, 6, 8 at 10-50%, MHE on the classifier"),
    ("fmnist-sphereface", "A-Softmax m=4"),
    ("sphereface-plus", "A-Softmax m=4, MHE on the classifier"),
]
SHOWN_CLASSES = (0, 2, 4, 6, 8)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default runs/mhe-table/<timestamp>)")
    p.add_argument("--reuse", action="store_true", help="keep the runs already in --out")
    p.add_argument("--recipes", default=",".join(r for r, _ in RECIPES),
                   help="recipes, comma-separated")
    p.add_argument("--epochs", type=float, default=None,
                   help="override train.epochs of every recipe (default: the recipes' own)")
    p.add_argument("--seed", type=int, default=None, help="override every recipe's seed")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads; use 1 when other jobs share the cores")
    p.add_argument("--device", default="cpu")
    return p.parse_args()


def run_one(name: str, args: argparse.Namespace, quiet: Console) -> dict[str, Any]:
    """Train ``name`` into ``--out/name`` (unless reused) and score it on the test set."""
    run_dir = args.out / name
    result_file = run_dir / "mhe_table.json"
    if args.reuse and result_file.is_file():
        return json.loads(result_file.read_text())
    overrides = []
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    t0 = time.perf_counter()
    if not (args.reuse and (run_dir / "summary.json").is_file()):
        train(load_recipe(name, overrides), out_dir=run_dir, device=args.device,
              progress=False, console=quiet)
    seconds = time.perf_counter() - t0
    model, recipe = load_checkpoint(run_dir, args.device)
    data = load_data(recipe.data, recipe.seed)
    scores = evaluate(model, data.test, args.device, recipe.data.eval_batch_size,
                      data.num_classes)
    with torch.no_grad():
        energy = layer_energies(model, s="1")  # one kind for every row
    first = next(iter(energy))
    row = {"recipe": name, "epochs": recipe.train.epochs, "seed": recipe.seed,
           "train_images": len(data.train.labels), "test_acc": scores["accuracy"],
           "per_class_accuracy": scores["per_class_accuracy"],
           "classifier_energy": energy.get("head"), "first_layer": first,
           "first_layer_energy": energy[first], "seconds": seconds, "run_dir": str(run_dir)}
    atomic_write_text(result_file, json.dumps(row, indent=1) + "\n")
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per recipe: accuracy, the shown classes' accuracy, energies, time."""
    what = dict(RECIPES)
    head = (["recipe", "what", "test acc"] + [f"class {k}" for k in SHOWN_CLASSES]
            + ["classifier energy", "conv1 energy", "minutes"])
    body = []
    for r in rows:
        per_class = r["per_class_accuracy"]
        energy = r["classifier_energy"]
        cells = ([r["recipe"], what.get(r["recipe"], ""), f"{r['test_acc']:.2%}"]
                 + [f"{per_class[k]:.1%}" for k in SHOWN_CLASSES]
                 + ["–" if energy is None else f"{energy:.5f}",
                    f"{r['first_layer_energy']:.4f}", f"{r['seconds'] / 60:.1f}"])
        body.append(cells)
    epochs = sorted({r["epochs"] for r in rows})
    notes = (f"Fashion-MNIST test set (10 000 images), {'/'.join(f'{e:g}' for e in epochs)} "
             "epoch(s). Energies: Coulomb (s=1) mean pair energy of the normalized weights; "
             "the regular simplex of 10 classes gives (20/9)^(-1/2) = 0.67082.")
    return markdown_table(head, body, notes, right_from=2)


def main() -> None:
    args = parse_args()
    args.out, log, quiet = start(args.out, "mhe-table", args.threads)
    names = [r.strip() for r in args.recipes.split(",") if r.strip()]
    rows, t0 = [], time.perf_counter()
    for name in names:
        row = run_one(name, args, quiet)
        rows.append(row)
        log.print(f"{name:30} test {row['test_acc']:.2%}  {row['seconds']:.0f} s "
                  f"(total {time.perf_counter() - t0:.0f} s)")
    table = markdown(rows)
    finish(args.out, table, rows, log, t0)


if __name__ == "__main__":
    main()
