"""``hyper data``: export a dataset to a format on disk, and say what a dataset holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hypercli.cli.common import console, print_json, user_errors

app = typer.Typer(help="Datasets on disk: export to folder/list/webdataset/recordio, inspect.",
                  no_args_is_help=True)


@app.command("export")
@user_errors
def export(
    name: Annotated[str, typer.Argument(help="A dataset (fashion-mnist, cifar10, synthetic, "
                                             "or a format name with --root).")],
    out: Annotated[Path, typer.Argument(help="Output directory (must not exist or be empty).")],
    format_: Annotated[str, typer.Option("--format", "-f",
                                         help="folder, list, webdataset or recordio.")],
    root: Annotated[str | None, typer.Option(help="data.root of the source dataset.")] = None,
    limit: Annotated[int | None, typer.Option(
        help="At most N images per split (the first ones).", min=1)] = None,
    test_limit: Annotated[int | None, typer.Option(
        help="At most N test images (default: --limit).", min=1)] = None,
    image_format: Annotated[str, typer.Option(help="png (lossless) or jpg (quality 95).")
                            ] = "png",
    shard_size: Annotated[int, typer.Option(help="webdataset: samples per shard.", min=1)
                          ] = 1000,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write a dataset's train and test splits in a format streamed from disk."""
    from hypercli.data.build import is_streamed
    from hypercli.data.export import FORMATS, export_dataset
    from hypercli.data.prepare import load_raw
    from hypercli.errors import HyperError
    from hypercli.recipe import DataConfig

    if format_ not in FORMATS:
        raise HyperError(f"--format {format_!r}: use one of {', '.join(FORMATS)}")
    cfg = DataConfig(name=name, root=root)
    if is_streamed(name):
        from hypercli.data.build import build_stream

        data = build_stream(cfg)
    else:
        data = load_raw(cfg)
    info = export_dataset(data, format_, out, limit=limit, test_limit=test_limit,
                          image_format=image_format,
                          shard_size=shard_size, source=name)
    if json_out:
        print_json({"out": str(out), **info})
        return
    console.print(f"wrote {name} as {format_} to {out}: "
                  + ", ".join(f"{k} {v:,} images" for k, v in info["splits"].items()))


@app.command("info")
@user_errors
def info(
    root: Annotated[Path, typer.Argument(help="Dataset directory (or a .rec / list file).")],
    format_: Annotated[str | None, typer.Option(
        "--format", "-f", help="folder, list, webdataset or recordio (default: guessed).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print a dataset's format, classes, images per split and image sizes."""
    from hypercli.data.info import dataset_info

    r = dataset_info(root, format_)
    if json_out:
        print_json(r)
        return
    names = r["class_names"] or []
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    console.print(f"[bold]{r['root']}[/]: {r['format']}, {r['num_classes']} classes"
                  + (f" ({shown})" if names else "")
                  + f", {r['channels']} channel(s), first image {r['first_image']}")
    for split, e in r["splits"].items():
        extra = (f", sizes {', '.join(e['sizes'][:4])}" if e.get("sizes") else
                 f", {e['shards']} shards of {e['samples_per_shard']} samples"
                 if "shards" in e else "")
        console.print(f"  {split}: {e['images']:,} images{extra}")
