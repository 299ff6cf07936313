"""SNGAN against SNGAN+MHE on Fashion-MNIST, scored in a Fashion-MNIST classifier's feature
space: the MHE paper's GAN claim (Liu et al., NeurIPS 2018, §5.4: MHE on the discriminator
of a spectrally normalized GAN raised CIFAR-10's Inception Score from 7.42 to 7.68),
checked on real data that is here, at a CPU budget.

For each seed it trains ``sngan-fmnist``, ``sngan-mhe-fmnist`` (the same run plus the
MHE-GAN code's MHE on D, at its weight) and the latter with a weight at which MHE reaches
D (``VARIANTS``), draws ``--samples`` images from each generator, and scores them
against as many Fashion-MNIST test images with torchmetrics' FID, Inception Score and KID
(``hypercli.gan.scores``). Inception-v3 weights are not on this machine, so the feature
and logit network is a Fashion-MNIST classifier (the ``fmnist-quick`` main job, trained
here once unless ``--features`` names one): the numbers are "FID (fmnist-quick features)"
and so on, not the Inception figures of the paper. Also reported: the discriminator's mean
log energy (s=0) over its layers. Mean ± std over the seeds; a markdown table on stdout and
in ``--out``.

    python scripts/gan_table.py                        # 3 seeds x 3 variants (< 1 hour, 2 cores)
    python scripts/gan_table.py --seeds 0 --quick      # a smoke run
    python scripts/gan_table.py --out DIR --reuse      # re-score / re-print finished runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from _reproduce import finish, markdown_table, start  # scripts/_reproduce.py, beside this file

# (label, recipe, overrides): SNGAN, the MHE-GAN code's MHE on D (lam 5e-8 on the pair
# mean: its gradient is 1e-6..1e-8 of the adversarial loss's, scripts/gan_mhe_gradient.py),
# and the same MHE at a weight that reaches D
VARIANTS = [("SNGAN", "sngan-fmnist", []),
            ("SNGAN + MHE on D (the authors' weight, 5e-8)", "sngan-mhe-fmnist", []),
            ("SNGAN + MHE on D (weight 1e-2)", "sngan-mhe-fmnist",
             ["regularizers.0.args.lam=0.01"])]


def features_checkpoint(out: Path, given: str | None, quiet) -> str:
    """The feature network's spec: ``--features``, or fmnist-quick trained under ``out``."""
    if given:
        return given if ":" in given else f"checkpoint:{given}"
    from hypercli.engine import train
    from hypercli.engine.checkpoint import FILENAME
    from hypercli.recipe import load_recipe

    run = out / "features-fmnist-quick"
    if not (run / FILENAME).exists() or not (run / "summary.json").exists():
        train(load_recipe("fmnist-quick"), out_dir=run, progress=True, console=quiet)
    return f"checkpoint:{run}"


def run_one(variant: int, seed: int, out: Path, overrides: list[str], reuse: bool, quiet,
            net, real, samples: int) -> dict:
    import torch

    from hypercli.engine import train
    from hypercli.engine.checkpoint import FILENAME
    from hypercli.gan.sampling import load_gan, sample
    from hypercli.gan.scores import gan_scores
    from hypercli.mhe import layer_energies
    from hypercli.recipe import load_recipe

    label, recipe, extra = VARIANTS[variant]
    run = out / f"v{variant}-{recipe}-seed{seed}"
    if not (reuse and (run / FILENAME).exists() and (run / "summary.json").exists()):
        train(load_recipe(recipe, [f"seed={seed}", *extra, *overrides]), out_dir=run,
              progress=True, console=quiet)
    summary = json.loads((run / "summary.json").read_text())
    gan, _ = load_gan(run)
    fake = sample(gan.generator, samples, seed=10_000 + seed)
    scores = gan_scores(fake, real, net, seed=seed)
    with torch.no_grad():
        energies = layer_energies(gan.discriminator, s="0")
    finite = [v for v in energies.values() if v == v]
    return {"variant": variant, "label": label, "recipe": recipe, "overrides": extra,
            "seed": seed, "run": str(run), **scores,
            "d_energy_s0": sum(finite) / len(finite), "d_energies": energies,
            "train_seconds": summary.get("train_seconds")}


def table(rows: list[dict], net_name: str, samples: int, budget: str) -> str:
    def ms(values: list[float], fmt: str) -> str:
        m = statistics.fmean(values)
        sd = statistics.pstdev(values) if len(values) > 1 else 0.0
        return f"{fmt.format(m)} ± {fmt.format(sd)}"

    body = []
    for variant, (label, _, _) in enumerate(VARIANTS):
        rs = [r for r in rows if r["variant"] == variant]
        if not rs:
            continue
        body.append([label, str(len(rs)), ms([r["fid"] for r in rs], "{:.2f}"),
                     ms([r["is"] for r in rs], "{:.3f}"),
                     ms([1000 * r["kid"] for r in rs], "{:.2f}"),
                     ms([r["d_energy_s0"] for r in rs], "{:.4f}"),
                     f"{statistics.fmean(r['train_seconds'] for r in rs):.0f}"])
    head = ["", "seeds", f"FID ({net_name})", f"IS ({net_name})", f"KID ×1000 ({net_name})",
            "D energy (s=0, mean over layers)", "train s"]
    notes = (f"{samples} generated against {samples} Fashion-MNIST test images, torchmetrics' "
             f"FID / IS (10 splits) / KID (100 subsets) with the {net_name} as the feature "
             f"and logit network, not Inception-v3: not comparable with published Inception "
             f"figures. Mean ± population std over the seeds. Budget: {budget}.")
    return markdown_table(head, body, notes, right_from=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/gan-table"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--features", help="feature network: a classifier run / checkpoint, or "
                    "inception:PATH (default: fmnist-quick, trained here)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 40 steps, 1000 samples")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="a recipe override for every run (e.g. data.subset=6400)")
    ap.add_argument("--reuse", action="store_true", help="keep finished runs, re-score them")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    out, log, quiet = start(args.out, "gan-table", args.threads)
    t0 = time.perf_counter()
    overrides = (["data.subset=1280", "train.epochs=2"] if args.quick else []) + args.overrides
    samples = 1000 if args.quick else args.samples

    from hypercli.data.fashion_mnist import fashion_mnist
    from hypercli.gan.scores import load_feature_network
    from hypercli.recipe import load_recipe

    net = load_feature_network(features_checkpoint(out, args.features, quiet))
    real = fashion_mnist().test.images[:samples]
    rows = []
    for seed in args.seeds:
        for variant in range(len(VARIANTS)):
            t1 = time.perf_counter()
            rows.append(run_one(variant, seed, out, overrides, args.reuse, quiet, net, real,
                                samples))
            r = rows[-1]
            log.print(f"{r['label'][:34]:34s} seed {seed}: FID {r['fid']:.2f}  IS {r['is']:.3f}  "
                      f"KID {r['kid']:.4f}  ({time.perf_counter() - t1:.0f} s)")
    base = load_recipe("sngan-fmnist", overrides)
    steps = int(base.train.epochs * -(-(base.data.subset or 60000) // base.data.batch_size))
    budget = (f"{base.train.epochs:g} epochs of {base.data.subset or 60000} images at batch "
              f"{base.data.batch_size} ({steps} D and G steps) per run")
    finish(out, table(rows, net.name, samples, budget), rows, log, t0)


if __name__ == "__main__":
    main()
