"""``hyper visualize-features``: features on the sphere, filter angles, training curves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hypercli.cli.common import console, print_json, resolve_checkpoint, user_errors


@user_errors
def visualize_features(
    ckpts: Annotated[list[Path] | None, typer.Argument(
        metavar="CKPT", show_default=False,
        help="Checkpoint files or run directories (more than one needs --compare).")] = None,
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", "-c", help="Checkpoint file or run directory (default: the latest run).")
    ] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="One column per checkpoint (--checkpoint first, then each CKPT), "
        "side by side; e.g. --compare runs/m1 runs/m2 runs/m3 runs/m4.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Image to write: .png, .svg or .pdf. Default: <run dir>/<view>.png "
        "(one model) or ./<view>-compare.png.")] = None,
    split: Annotated[str, typer.Option(help="Images to embed: test, val or train.")] = "test",
    n: Annotated[int | None, typer.Option(
        "--n", help="Embed the first N images of the split (default 5000); of a GAN run, "
        "draw N samples (default: its gan.grid_samples).", show_default=False)] = None,
    layers: Annotated[str | None, typer.Option(
        help="Instead of features, draw the pairwise filter angles and hyperspherical energy "
        "of these layers: 'all', or comma-separated names, globs or positions ('0,1,head').")
    ] = None,
    curves: Annotated[list[Path] | None, typer.Option(
        help="Instead of features, draw the training curves of this run directory "
        "(repeat to overlay runs).")] = None,
    size: Annotated[str | None, typer.Option(
        help="Figure size in pixels, WIDTHxHEIGHT (default: fitted to the panels).")] = None,
    dpi: Annotated[int, typer.Option(help="Pixels per inch (text scale).")] = 100,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda: where features are computed.")
    ] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Draw the learned features on the circle / sphere (by feature dimension), the angles
    between the filters of chosen layers (--layers), or training curves (--curves). Of a
    GAN run (task gan): a grid of its samples, and --layers its discriminator's filters."""
    from hypercli.errors import HyperError
    from hypercli.viz.figure import parse_size
    from hypercli.viz.render import render_curves, render_features, render_layers, render_samples

    if layers is not None and curves:
        raise HyperError("--layers and --curves draw different views; give one of them")
    if device not in ("auto", "cpu", "cuda"):
        raise HyperError(f"--device {device!r}: use auto, cpu or cuda")
    if not 20 <= dpi <= 600:
        raise HyperError(f"--dpi {dpi}: use a value between 20 and 600")
    size_px = parse_size(size) if size else None
    view = "layers" if layers is not None else "curves" if curves else "features"

    if curves:
        if ckpts or checkpoint is not None:
            raise HyperError("--curves reads run directories; give them as --curves DIR "
                             "(repeatable), not as checkpoints")
        if len(curves) > 1 and not compare:
            raise HyperError("several --curves runs overlay only with --compare")
        target = out or (_default_out(view, curves[0], len(curves) > 1))
        result = render_curves(curves, target, size_px, dpi)
    else:
        given = ([checkpoint] if checkpoint is not None else []) + list(ckpts or [])
        if len(given) > 1 and not compare:
            raise HyperError(f"{len(given)} checkpoints given; add --compare to draw them "
                             "side by side")
        if compare and len(given) < 2:
            raise HyperError("--compare needs at least two checkpoints: --compare CKPT CKPT ...")
        paths = given or [resolve_checkpoint(None)]
        if len(paths) == 1:
            paths = [resolve_checkpoint(paths[0])]
        if view == "features":
            view = _features_or_samples(paths)
        target = out or _default_out(view, paths[0], len(paths) > 1)
        if view == "layers":
            result = render_layers(paths, target, layers, size_px, dpi)
        elif view == "samples":
            result = render_samples(paths, target, n, device, size_px, dpi)
        else:
            result = render_features(paths, target, split, 5000 if n is None else n, device,
                                     size_px, dpi)
    if json_out:
        print_json(result)
        return
    _print(result)


def _features_or_samples(paths: list[Path]) -> str:
    """``samples`` for GAN runs, ``features`` for classifiers; one kind at a time."""
    from hypercli.engine.checkpoint import stored_task
    from hypercli.errors import HyperError

    tasks = [stored_task(p) for p in paths]
    gan = [t == "gan" for t in tasks]
    if any(gan) and not all(gan):
        i, j = gan.index(True), gan.index(False)
        raise HyperError(f"{paths[i]} is a GAN run and {paths[j]} a classifier: compare "
                         "samples of GANs, or features of classifiers (--layers draws both)")
    return "samples" if all(gan) else "features"


def _default_out(view: str, first: Path, several: bool) -> Path:
    if several:
        return Path(f"{view}-compare.png")
    run_dir = first if first.is_dir() else first.parent
    return run_dir / f"{view}.png"


def _print(result: dict[str, Any]) -> None:
    from rich.table import Table

    view = result["view"]
    if view == "features":
        table = Table(title=f"feature angles on the {result['split']} split, degrees: mean "
                      "intra-/inter-class pair angle, closest class centres", title_justify="left")
        for col in ("model", "dim", "n", "accuracy", "intra", "inter", "centres"):
            table.add_column(col, justify="left" if col == "model" else "right",
                             no_wrap=col == "model")
        for m in result["models"]:
            acc = "-" if m["accuracy"] is None else f"{m['accuracy']:.2%}"
            table.add_row(m["label"], str(m["feature_dim"]), str(m["n"]), acc,
                          f"{m['mean_intra_deg']:.1f}", f"{m['mean_inter_deg']:.1f}",
                          f"{m['min_centre_deg']:.1f}")
    elif view == "samples":
        table = Table(title="GAN samples (fixed codes: the run's seed)", title_justify="left")
        for col in ("model", "samples", "image", "seed"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for m in result["models"]:
            table.add_row(m["label"], str(m["n"]), "x".join(map(str, m["image_shape"])),
                          str(m["seed"]))
    elif view == "layers":
        several = len(result["models"]) > 1
        title = "filter angles (degrees), hyperspherical energy (s = 1; half: half-space)"
        table = Table(title=title if several else f"{result['models'][0]['label']}: {title}",
                      title_justify="left")
        cols = (("model",) if several else ()) + ("layer", "N", "dim", "mean°", "min°",
                                                   "energy", "half")
        for col in cols:
            table.add_column(col, justify="left" if col in ("model", "layer") else "right",
                             no_wrap=col == "model")
        for m in result["models"]:
            for s in m["layers"]:
                table.add_row(*([m["label"]] if several else []), s["layer"], str(s["filters"]),
                              str(s["dim"]), f"{s['mean_angle_deg']:.2f}",
                              f"{s['min_angle_deg']:.2f}", f"{s['energy_s1']:.4f}",
                              f"{s['energy_s1_half_space']:.4f}")
    else:
        table = Table(title="training curves", title_justify="left")
        for col in ("run", "records", "panels"):
            table.add_column(col)
        for r in result["runs"]:
            table.add_row(r["label"], str(r["records"]), ", ".join(r["groups"]))
    console.print(table)
    console.print(f"wrote [bold]{result['out']}[/]")
