"""``hyper eval``: accuracy, loss, per-class accuracy, confusion matrix (and more) of a run;
with ``--verify``, face verification on .bin / pairs.txt / pair-list sets instead."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hypercli.cli.common import console, print_json, resolve_checkpoint, user_errors


@user_errors
def evaluate(
    checkpoint: Annotated[Path | None, typer.Option(
        help="Checkpoint file or run directory (default: the latest run).")] = None,
    split: Annotated[str, typer.Option(help="test, val or train.")] = "test",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    verify: Annotated[list[Path] | None, typer.Option(
        "--verify", help="Face verification set instead of the test split (repeatable): an "
        "insightface .bin, an LFW pairs.txt (with --images) or a 'label path0 path1' pair "
        "list.")] = None,
    protocol: Annotated[str | None, typer.Option(
        help="Verification protocol: insightface (mirror summed, squared distance, first best "
        "threshold) or sphereface (mirror concatenated, 9-fold mean removed, cosine, mean of "
        "the best thresholds). Default: each set's own, insightface for a .bin or a pair "
        "list, sphereface for a pairs.txt.", show_default=False)] = None,
    images: Annotated[Path | None, typer.Option(
        help="Image folder of a pairs.txt (Name/Name_0001.jpg), or the root of a pair list's "
        "paths (default: the list's folder).")] = None,
    image_ext: Annotated[str, typer.Option(
        help="Extension of a pairs.txt's images: jpg or png.")] = "jpg",
    features: Annotated[str | None, typer.Option(
        help="GAN runs: the feature and logit network of FID / IS / KID, checkpoint:RUN (a "
        "hyper classifier of the same images) or inception:WEIGHTS.pth (default: the "
        "recipe's gan.features).", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option(
        min=2, help="GAN runs: images generated and scored, against as many test images "
        "(default: the recipe's gan.score_samples).", show_default=False)] = None,
) -> None:
    """Evaluate a checkpoint: accuracy, loss, per-class accuracy, confusion matrix,
    open-set verification (when the recipe asks) and per-layer hyperspherical energy.
    With --verify: face verification accuracy (10-fold mean ± std, named protocol), XNorm,
    TAR@FAR, EER and AUC on each set."""
    from hypercli.errors import HyperError

    if verify:
        from hypercli.verification.verify import verify_checkpoint

        result = verify_checkpoint(resolve_checkpoint(checkpoint), verify, protocol, device,
                                   images, image_ext)
        if json_out:
            print_json(result)
        else:
            _print_verification(result)
        return
    from hypercli.engine.report import report

    if split not in ("test", "val", "train"):
        raise HyperError(f"--split {split!r}: use test, val or train")
    path = resolve_checkpoint(checkpoint)
    if _is_gan(path):
        from hypercli.gan.evaluate import score_checkpoint

        result = score_checkpoint(path, features, samples, device)
        if json_out:
            print_json(result)
        else:
            _print_gan(result)
        return
    result = report(path, split, device)
    if json_out:
        print_json(result)
        return
    _print(result)


def _print_verification(r: dict) -> None:
    from rich.table import Table

    forced = f" ({r['protocol']} protocol)" if r["protocol"] else ""
    t = Table(title=f"face verification of {r['recipe']}{forced}", title_justify="left")
    for col in ("set", "pairs", "protocol", "accuracy", "threshold", "XNorm",
                "TAR@FAR=1e-3", "TAR@FAR=1e-4", "EER", "AUC"):
        t.add_column(col, justify="left" if col in ("set", "protocol") else "right")
    for v in r["sets"]:
        t.add_row(v["set"], str(v["pairs"]), v["protocol"],
                  f"{v['accuracy']:.2%} ± {v['accuracy_std']:.2%}", f"{v['threshold']:.4f}",
                  f"{v['xnorm']:.4f}", f"{v['tar@far=0.001']:.2%}", f"{v['tar@far=0.0001']:.2%}",
                  f"{v['eer']:.2%}", f"{v['auc']:.4f}")
    console.print(t)


def _print(r: dict) -> None:
    from rich.table import Table

    top5 = f", top-5 {r['top5_accuracy']:.2%}" if "top5_accuracy" in r else ""
    console.print(f"[bold]{r['recipe']}[/] on {r['split']} ({r['n']} images): "
                  f"accuracy [bold green]{r['accuracy']:.2%}[/]{top5}, loss {r['loss']:.4f}")
    names = r["class_names"]
    conf = r["confusion"]
    if len(names) > 20:  # ImageNet: 1000 columns help no one on a terminal
        console.print(f"per-class accuracy and the confusion matrix of {len(names)} classes: "
                      "see --json")
        names = []
    table = Table(title="per class (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    for j in range(len(names)):
        table.add_column(str(j), justify="right")
    for i, name in enumerate(names):
        table.add_row(f"{i} {name}", f"{r['per_class_accuracy'][i]:.2%}", *map(str, conf[i]))
    if names:
        console.print(table)
    if "verification" in r:
        v = r["verification"]
        t = Table(title="open-set verification (unseen classes)", title_justify="left")
        t.add_column("metric")
        t.add_column("value", justify="right")
        for k, val in v.items():
            if isinstance(val, float):
                t.add_row(k, f"{val:.4f}")
            elif isinstance(val, (int, str)):
                t.add_row(k, str(val))
        console.print(t)
    if r.get("energies"):
        kind = r.get("energy_kind", {"s": "1", "half_space": False})
        half = ", half-space on hidden layers" if kind["half_space"] else ""
        t = Table(title=f"hyperspherical energy per layer (s={kind['s']}{half}, mean over pairs)",
                  title_justify="left")
        t.add_column("layer")
        t.add_column("energy", justify="right")
        for k, val in r["energies"].items():
            t.add_row(k, f"{val:.6g}" if isinstance(val, float) else str(val))
        console.print(t)


def _is_gan(path: Path) -> bool:
    from hypercli.engine.checkpoint import read_checkpoint

    return read_checkpoint(path)["recipe"].get("task", "classify") == "gan"


def _print_gan(r: dict) -> None:
    from rich.table import Table

    console.print(f"[bold]{r['recipe']}[/]: {r['n_fake']} generated against {r['n_real']} "
                  "test images")
    t = Table(title="GAN scores", title_justify="left")
    t.add_column("score")
    t.add_column("value", justify="right")
    for m, label in r["labels"].items():
        std = r.get(f"{m}_std")
        t.add_row(label, f"{r[m]:.4f}" + (f" ± {std:.4f}" if std is not None else ""))
    console.print(t)
    e = Table(title="discriminator energy per layer (s=0, mean over pairs)",
              title_justify="left")
    e.add_column("layer")
    e.add_column("energy", justify="right")
    for k, v in r["d_energies"].items():
        e.add_row(k, f"{v:.6g}")
    console.print(e)
