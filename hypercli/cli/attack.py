"""``hyper attack``: adversarial robustness of a checkpoint (FGSM, BIM, PGD, PGD-L2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hypercli.cli.common import console, print_json, resolve_checkpoint, user_errors


@user_errors
def attack(
    checkpoint: Annotated[Path | None, typer.Option(
        help="Checkpoint file or run directory (default: the latest run).")] = None,
    method: Annotated[str, typer.Option(
        help="fgsm, bim (multi-step FGSM), pgd (random start) or pgd-l2.")] = "fgsm",
    eps: Annotated[float, typer.Option(
        help="Budget. L-inf methods: in 1/255 of the [0,1] pixel range (8 means 8/255); "
             "pgd-l2: a plain L2 norm of the [0,1] image.")] = ...,  # type: ignore[assignment]
    alpha: Annotated[float | None, typer.Option(
        help="Step size, same units as --eps (default 2.5*eps/steps).")] = None,
    steps: Annotated[int | None, typer.Option(
        help="Attack steps (default 1 for fgsm, 10 otherwise).")] = None,
    random_start: Annotated[bool | None, typer.Option(
        "--random-start/--no-random-start",
        help="Start at a random point of the eps-ball (default: on for pgd, pgd-l2).")] = None,
    targeted: Annotated[bool, typer.Option(
        "--targeted", help="Targeted: push each image to class (label + 1) mod K.")] = False,
    n: Annotated[int, typer.Option(
        "--n", help="Attack the first N test images, in dataset order.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Images per attack batch.")] = 256,
    min_norm: Annotated[str | None, typer.Option(
        help="Also search each clean-correct image's smallest flipping (untargeted) "
             "perturbation: linf (reported in 1/255) or l2.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    save_adv: Annotated[Path | None, typer.Option(
        help="Write x, x_adv, y to this torch file (torch.load(..., weights_only=True)).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Attack a trained model: clean and robust accuracy, attack success, perturbation norms.

    Images are in [0, 1]; robust accuracy counts clean errors as non-robust.
    """
    from hypercli.attacks.report import attack_checkpoint
    from hypercli.errors import HyperError

    if eps < 0:
        raise HyperError(f"--eps {eps}: a budget cannot be negative")
    if not eps < float("inf"):  # inf and nan
        raise HyperError(f"--eps {eps}: a budget must be a finite number")
    if alpha is not None and not 0 < alpha < float("inf"):
        raise HyperError(f"--alpha {alpha}: a step size is a finite number > 0")
    if device not in ("auto", "cpu", "cuda"):
        raise HyperError(f"--device {device!r}: use auto, cpu or cuda")
    path = resolve_checkpoint(checkpoint)
    result = attack_checkpoint(path, method=method, eps=eps, alpha=alpha, steps=steps,
                               random_start=random_start, targeted=targeted, n=n,
                               batch_size=batch_size, min_norm=min_norm, device=device,
                               save_adv=save_adv)
    if json_out:
        print_json(result)
        return
    _print(result)


def _print(r: dict) -> None:
    from rich.table import Table

    unit = "/255" if r["units"] == "1/255" else " (L2)"
    start = ", random start" if r["random_start"] else ""
    aim = ", targeted at (y+1) mod K" if r["targeted"] else ""
    table = Table(title=f"{r['method']} eps={r['eps']:g}{unit}, alpha={r['alpha']:.4g}{unit}, "
                        f"{r['steps']} steps{start}{aim} on {r['n']} test images of "
                        f"{r['recipe']}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("clean accuracy", f"{r['clean_acc']:.2%}")
    table.add_row("robust accuracy", f"[bold]{r['robust_acc']:.2%}[/]")
    table.add_row("attack success (of clean-correct)", f"{r['success_rate']:.2%}")
    table.add_row("mean L2 of perturbation", f"{r['mean_l2']:.4f}")
    table.add_row("mean L-inf of perturbation", f"{r['mean_linf'] * 255:.3f}/255")
    if "min_norm" in r:
        m = r["min_norm"]
        u = "/255" if m["units"] == "1/255" else ""
        label = "L-inf" if m["norm"] == "linf" else "L2"
        table.add_row(f"minimal {label} norm to flip, median", f"{m['median']:.4g}{u}")
        table.add_row(f"minimal {label} norm to flip, mean", f"{m['mean']:.4g}{u}")
        table.add_row("  searched / never flipped", f"{m['n']} / {m['unflipped']}")
    console.print(table)
    if "saved" in r:
        console.print(f"adversarial images -> {r['saved']}")
