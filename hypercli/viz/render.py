"""From checkpoints and run directories to a saved figure: what ``hyper visualize-features`` runs.

Each ``render_*`` checks the output path first (so a bad path fails before any work),
loads what it needs, draws, saves atomically and returns a JSON-ready summary.

    render_features(["runs/fmnist-2d-softmax/latest"], "softmax.png")
    render_layers(["runs/a", "runs/b"], "layers.png", selection="all")
    render_curves(["runs/a"], "curves.png")
    render_samples(["runs/sngan-fmnist/latest"], "samples.png")   # a GAN run
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypercli.errors import HyperError
from hypercli.viz.figure import DEFAULT_DPI, check_output_path, save_figure

SPLITS = ("test", "val", "train")
PathLike = str | os.PathLike[str]


def _labels(paths: list[Path], names: list[str]) -> list[str]:
    """Column labels: recipe names, made unique with the run folder when they repeat."""
    if len(set(names)) == len(names):
        return names
    return [f"{name} ({p.parent.name})" for name, p in zip(names, paths, strict=True)]


def _load_models(paths: list[PathLike]) -> tuple[list[Path], list[Any], list[Any]]:
    """Checkpoint files, models and recipes; a GAN run gives its discriminator."""
    from hypercli.engine.checkpoint import checkpoint_file, load_checkpoint, stored_task

    files = [checkpoint_file(p) for p in paths]
    models, recipes = [], []
    for f in files:
        if stored_task(f) == "gan":
            from hypercli.gan.sampling import load_gan

            gan, recipe = load_gan(f)
            model = gan.discriminator
        else:
            model, recipe = load_checkpoint(f)
        models.append(model)
        recipes.append(recipe)
    return files, models, recipes


def _model_names(recipes: list[Any]) -> list[str]:
    return [f"{r.name} (discriminator)" if r.task == "gan" else r.name for r in recipes]


def render_features(paths: list[PathLike], out: PathLike, split: str = "test",
                    n: int = 5000, device: str = "auto", size_px: tuple[int, int] | None = None,
                    dpi: int = DEFAULT_DPI, max_points: int | None = 3000) -> dict[str, Any]:
    """Features of one checkpoint (``plot_features``) or several side by side (``plot_compare``).

    Args:
        paths: checkpoint files or run directories.
        split: "test", "val" or "train"; the first ``n`` images of it are embedded.
        device: "auto", "cpu" or "cuda" for computing the features.
    """
    import torch

    from hypercli.data import Split, build_data
    from hypercli.engine.distributed import resolve_device
    from hypercli.viz.angles import class_angles
    from hypercli.viz.features import FeatureSet, collect_features, plot_compare, plot_features

    if split not in SPLITS:
        raise HyperError(f"--split {split!r}: use one of {', '.join(SPLITS)}")
    if n < 2:
        raise HyperError(f"--n {n}: need at least 2 images")
    out = check_output_path(out)
    files, models, recipes = _load_models(paths)
    dev = resolve_device(device)
    cache: dict[str, Any] = {}
    sets, rows = [], []
    for f, model, recipe, label in zip(files, models, recipes,
                                       _labels(files, [r.name for r in recipes]), strict=True):
        key = json.dumps([recipe.data.model_dump(mode="json"), recipe.seed], sort_keys=True)
        if key not in cache:
            cache[key] = build_data(recipe.data, recipe.seed)
        data = cache[key]
        part = getattr(data, split)
        if part is None:
            raise HyperError(f"{f}: its recipe has no {split} split (data.val_split is 0); "
                             f"use --split test")
        if not isinstance(part, Split):  # streamed from disk: the first n images, in memory
            part = part.head(n)
        feats, labels = collect_features(model, part.images, part.labels, n, str(dev))
        head = getattr(model, "head", None)
        weights, acc = None, None
        if head is not None and hasattr(head, "logits"):
            weights = head.weight.detach().cpu().double().numpy()
            with torch.no_grad():
                logits = head.logits(torch.as_tensor(feats, dtype=torch.float32).to(
                    head.weight.device))
            acc = float((logits.argmax(1).cpu().numpy() == labels).mean())
        title = label if acc is None else (
            f"{label}\naccuracy {acc:.1%} on the first {len(labels)} {split} images")
        sets.append(FeatureSet(feats, labels, list(data.class_names), title=title,
                               weights=weights))
        stats = class_angles(feats, labels, max_points=max_points)
        rows.append({"checkpoint": str(f), "label": label, "feature_dim": feats.shape[1],
                     "n": len(labels), "accuracy": acc, **stats.summary()})
    if len(sets) == 1:
        fig = plot_features(sets[0], size_px, dpi, max_points)
    else:
        fig = plot_compare(sets, size_px, dpi, max_points)
    saved = save_figure(fig, out)
    return {"view": "features", "out": str(saved), "split": split, "models": rows}


def render_layers(paths: list[PathLike], out: PathLike, selection: str | None = "all",
                  size_px: tuple[int, int] | None = None,
                  dpi: int = DEFAULT_DPI) -> dict[str, Any]:
    """Pairwise filter angles and hyperspherical energy of chosen layers, models overlaid
    (of a GAN run: its discriminator's layers)."""
    from hypercli.viz.layers import plot_layers, select_layers

    out = check_output_path(out)
    files, models, recipes = _load_models(paths)
    labels = _labels(files, _model_names(recipes))
    chosen = [(label, select_layers(m, selection)) for label, m in zip(labels, models,
                                                                       strict=True)]
    fig, stats = plot_layers(chosen, size_px, dpi)
    saved = save_figure(fig, out)
    return {"view": "layers", "out": str(saved),
            "models": [{"checkpoint": str(f), "label": label,
                        "layers": [s.summary() for s in st]}
                       for f, label, st in zip(files, labels, stats, strict=True)]}


def render_samples(paths: list[PathLike], out: PathLike, n: int | None = None,
                   device: str = "auto", size_px: tuple[int, int] | None = None,
                   dpi: int = DEFAULT_DPI) -> dict[str, Any]:
    """A grid of samples of each GAN checkpoint, side by side.

    ``n`` samples (default: the run's ``gan.grid_samples``) from the run's fixed codes (seed
    = the recipe's seed), so the grid of the last checkpoint is that epoch's
    ``samples/epoch-NNN.png``. ``HyperError`` for a checkpoint that is no GAN run.
    """
    import math

    from hypercli.engine.checkpoint import checkpoint_file
    from hypercli.engine.distributed import resolve_device
    from hypercli.gan.sampling import grid_image, load_gan, sample
    from hypercli.viz.figure import new_figure

    if n is not None and not 1 <= n <= 1024:
        raise HyperError(f"--n {n}: draw between 1 and 1024 samples")
    out = check_output_path(out)
    dev = resolve_device(device)
    files = [checkpoint_file(p) for p in paths]
    grids, rows = [], []
    for f in files:
        gan, recipe = load_gan(f, dev)
        k = n or recipe.gan.grid_samples
        x = sample(gan.generator, k, seed=recipe.seed, device=dev)  # (k, C, H, W) in [0, 1]
        grids.append(grid_image(x).numpy())
        rows.append({"checkpoint": str(f), "name": recipe.name, "n": k, "seed": recipe.seed,
                     "image_shape": list(x.shape[1:])})
    labels = _labels(files, [r["name"] for r in rows])
    cols = min(4, len(grids))
    fig_rows = math.ceil(len(grids) / cols)
    fig = new_figure(size_px or (520 * cols + 40, 560 * fig_rows + 40), dpi)
    axes = fig.subplots(fig_rows, cols, squeeze=False).ravel()
    for ax, grid, label, row in zip(axes, grids, labels, rows, strict=False):
        gray = grid.shape[2] == 1
        ax.imshow(grid[..., 0] if gray else grid, cmap="gray" if gray else None, vmin=0,
                  vmax=255, interpolation="nearest")
        ax.set_title(f"{label}: {row['n']} samples (seed {row['seed']})", fontsize=9)
        ax.set_axis_off()
    for ax in axes[len(grids):]:
        ax.set_axis_off()
    saved = save_figure(fig, out)
    for row, label in zip(rows, labels, strict=True):
        row["label"] = label
    return {"view": "samples", "out": str(saved), "models": rows}


def _run_name(run_dir: Path) -> str:
    """The recipe name stored in a run directory, else the folder name."""
    import yaml

    try:
        name = yaml.safe_load((run_dir / "recipe.yaml").read_text()).get("name")
    except (OSError, AttributeError, yaml.YAMLError):
        name = None
    return str(name) if name else run_dir.name


def render_curves(runs: list[PathLike], out: PathLike, size_px: tuple[int, int] | None = None,
                  dpi: int = DEFAULT_DPI) -> dict[str, Any]:
    """Training curves of one or more run directories (every numeric metric, grouped)."""
    from hypercli.viz.curves import group_metrics, metrics_path, plot_curves, read_metrics

    out = check_output_path(out)
    loaded = []
    for run in runs:
        path = metrics_path(run)
        label = _run_name(path.parent)
        loaded.append((label, read_metrics(path), path))
    names = _labels([p for _, _, p in loaded], [label for label, _, _ in loaded])
    fig = plot_curves([(name, records) for name, (_, records, _) in
                       zip(names, loaded, strict=True)], size_px, dpi)
    saved = save_figure(fig, out)
    return {"view": "curves", "out": str(saved),
            "runs": [{"metrics": str(p), "label": name, "records": len(records),
                      "groups": group_metrics(records)[1]}
                     for name, (_, records, p) in zip(names, loaded, strict=True)]}
