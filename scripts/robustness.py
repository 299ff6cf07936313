"""Reproduce the decoupled-networks robustness table on Fashion-MNIST, from scratch.

Liu et al., "Decoupled networks" (CVPR 2018, arXiv:1804.08071), Sec. 5.4 and Tables 6-7:
bounded operators (TanhConv, BallConv) are claimed to resist FGSM and multi-step FGSM
better and to need larger L-inf / L2 perturbations to be fooled; Sec. 5.3: bounded
operators train without BatchNorm where unbounded ones fail.

For each operator (plain conv, SphereConv, TanhConv, BallConv, LinearConv), with and
without BatchNorm, naturally and adversarially trained (recipes fmnist-robust-natural /
fmnist-robust-adv), it trains the same small CNN, attacks the first --n test images with
FGSM and BIM (10 steps, alpha = eps/4) at each --eps (in 1/255), and searches the minimal
L-inf and L2 perturbation of the first --n-min-norm clean-correct images. A run whose loss
diverges, or whose test accuracy stays below --converged, is reported N/C. Prints one
markdown table on stdout and writes it, with every number as JSON, to --out.

    python scripts/robustness.py                    # the full table (< 1 hour on 2 CPU cores)
    python scripts/robustness.py --quick            # a smoke run in a few minutes
    python scripts/robustness.py --out DIR --reuse  # re-attack / re-print finished runs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _reproduce import finish, markdown_table, start  # scripts/_reproduce.py, beside this file
from rich.console import Console

from hypercli import load_checkpoint
from hypercli.attacks import create_attack, min_norm, robustness
from hypercli.data import load_data
from hypercli.engine import train
from hypercli.engine.io import atomic_write_text
from hypercli.errors import DivergenceError
from hypercli.recipe import load_recipe

OPERATORS = {  # registered conv name -> what the paper calls it
    "conv": "Conv (plain)", "sphere": "SphereConv", "dc-tanh": "TanhConv",
    "dc-ball": "BallConv", "dc-linear": "LinearConv",
}
TRAININGS = {"natural": "fmnist-robust-natural", "adversarial": "fmnist-robust-adv"}
QUICK = ["data.subset=1000", "train.epochs=1"]  # --quick: a smoke run, not a result


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default runs/fmnist-robust/<timestamp>)")
    p.add_argument("--reuse", action="store_true", help="keep the models already in --out")
    p.add_argument("--ops", default=",".join(OPERATORS), help="operators, comma-separated")
    p.add_argument("--eps", default="2,4,8", help="FGSM/BIM budgets in 1/255, comma-separated")
    p.add_argument("--n", type=int, default=1000, help="test images attacked")
    p.add_argument("--n-min-norm", type=int, default=200, help="images of the min-norm search")
    p.add_argument("--converged", type=float, default=0.2,
                   help="test accuracy below this is N/C (chance: 0.1)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads; use 1 when other jobs share the cores")
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="extra recipe override for every run, key.path=value")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1000 training images, 1 epoch, 100 attacked images")
    args = p.parse_args()
    if args.quick:
        args.overrides = QUICK + args.overrides
        args.n, args.n_min_norm = min(args.n, 100), min(args.n_min_norm, 20)
    return args


def evaluate_run(run_dir: Path, eps_list: list[float], n: int, n_min: int,
                 device: str) -> dict[str, Any]:
    """FGSM and BIM robust accuracy at each eps (1/255), and minimal L-inf / L2 norms."""
    model, recipe = load_checkpoint(run_dir, device)
    test = load_data(recipe.data, recipe.seed).test
    x, y = test.floats(0, n), test.labels[:n]  # the first n test images, dataset order
    out: dict[str, Any] = {}
    for method in ("fgsm", "bim"):
        for eps in eps_list:
            alpha = None if method == "fgsm" else eps / 4  # BIM: 10 steps of eps/4
            attack = create_attack(method, model, eps=eps, alpha=alpha)
            r = robustness(model, x, y, attack, batch_size=250)
            out["clean_acc"] = r["clean_acc"]
            out[f"{method}@{eps:g}"] = r["robust_acc"]
    for norm in ("linf", "l2"):
        r = min_norm(model, x[:n_min], y[:n_min], norm=norm, batch_size=250, search_steps=8,
                     return_norms=True)  # stored, so any statistic can be recomputed
        scale = 255.0 if norm == "linf" else 1.0  # L-inf in 1/255
        out[f"min_{norm}"] = {**r, "median": r["median"] * scale, "mean": r["mean"] * scale,
                              "norms": [v * scale for v in r["norms"]]}
    return out


def run_one(op: str, bn: bool, training: str, args: argparse.Namespace,
            quiet: Console) -> dict[str, Any]:
    name = f"{TRAININGS[training]}-{op}-{'bn' if bn else 'nobn'}"
    run_dir = args.out / name
    row: dict[str, Any] = {"operator": op, "batchnorm": bn, "training": training,
                           "run_dir": str(run_dir)}
    result_file = run_dir / "robustness.json"
    if args.reuse and result_file.is_file():
        return json.loads(result_file.read_text())
    t0 = time.perf_counter()
    if not (args.reuse and (run_dir / "summary.json").is_file()):
        recipe = load_recipe(TRAININGS[training], [
            f"name={name}", f"model.conv={op}", f"model.batchnorm={str(bn).lower()}",
            *args.overrides])
        try:
            train(recipe, out_dir=run_dir, device=args.device, progress=False, console=quiet)
        except DivergenceError as exc:
            row.update(converged=False, test_acc=None, note=str(exc).split(";")[0],
                       seconds=time.perf_counter() - t0)
            atomic_write_text(result_file, json.dumps(row, indent=1) + "\n")
            return row
    summary = json.loads((run_dir / "summary.json").read_text())
    row["test_acc"] = summary["test_accuracy"]
    row["converged"] = summary["test_accuracy"] >= args.converged
    if row["converged"]:
        eps = [float(e) for e in args.eps.split(",")]
        row.update(evaluate_run(run_dir, eps, args.n, args.n_min_norm, args.device))
    row["seconds"] = time.perf_counter() - t0
    atomic_write_text(result_file, json.dumps(row, indent=1) + "\n")
    return row


def markdown(rows: list[dict[str, Any]], eps: list[str], n: int, n_min: int) -> str:
    """The table: robust accuracy (%) under each attack, minimal norms (median / mean)."""
    head = (["operator", "BN", "training", "test acc"]
            + [f"FGSM {e}" for e in eps] + [f"BIM {e}" for e in eps]
            + ["min L∞ ×255 (median / mean)", "min L2 (median / mean)", "seconds"])
    body = []
    for r in rows:
        cells = [OPERATORS[r["operator"]], "yes" if r["batchnorm"] else "no", r["training"]]
        if not r["converged"]:
            acc = "N/C" if r.get("test_acc") is None else f"N/C ({r['test_acc']:.1%})"
            cells += [acc] + ["–"] * (2 * len(eps) + 2)
        else:
            cells.append(f"{r['test_acc']:.1%}")
            cells += [f"{100 * r[f'fgsm@{float(e):g}']:.1f}" for e in eps]
            cells += [f"{100 * r[f'bim@{float(e):g}']:.1f}" for e in eps]
            for norm in ("min_linf", "min_l2"):
                m = r[norm]
                cells.append(f"{m['median']:.3g} / {m['mean']:.3g}" if m["n"] else "–")
        cells.append(f"{r['seconds']:.0f}")
        body.append(cells)
    notes = (f"Robust accuracy (%, clean errors count as non-robust) on the first {n} "
             f"Fashion-MNIST test images; budgets in 1/255; BIM: 10 steps of eps/4. Minimal "
             f"norms: per clean-correct image among the first {n_min}, the smallest budget "
             "with which BIM (L∞) / PGD-L2 without random start (10 steps) flips the class. "
             "N/C: training diverged or test accuracy stayed near chance.")
    return markdown_table(head, body, notes)


def main() -> None:
    args = parse_args()
    args.out, log, quiet = start(args.out, "fmnist-robust", args.threads)
    ops = [op.strip() for op in args.ops.split(",")]
    unknown = [op for op in ops if op not in OPERATORS]
    if unknown:
        raise SystemExit(f"unknown operator {unknown[0]!r}; use {', '.join(OPERATORS)}")
    rows, t0 = [], time.perf_counter()
    for training in TRAININGS:
        for bn in (True, False):
            for op in ops:
                row = run_one(op, bn, training, args, quiet)
                rows.append(row)
                acc = "N/C" if not row["converged"] else f"{row['test_acc']:.1%}"
                log.print(f"{OPERATORS[op]:13} BN={'yes' if bn else 'no ':3} {training:11} "
                          f"test {acc:>6}  {row['seconds']:.0f} s "
                          f"(total {time.perf_counter() - t0:.0f} s)")
    eps = [e.strip() for e in args.eps.split(",")]
    table = markdown(rows, eps, args.n, args.n_min_norm)
    finish(args.out, table, rows, log, t0)


if __name__ == "__main__":
    main()
