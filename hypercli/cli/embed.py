"""``hyper embed``: the face embeddings of a folder or list of images, as one file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hypercli.cli.common import console, print_json, resolve_checkpoint, user_errors


@user_errors
def embed(
    images: Annotated[Path, typer.Option(
        help="A folder (every image under it, recursively, in sorted path order) or a text "
             "file of one image path per line, optionally 'path label'.",
        show_default=False)] = ...,  # type: ignore[assignment]
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="emb.safetensors or emb.npy; emb.json (paths, metadata) is "
                            "written beside it.", show_default=False)] = ...,  # type: ignore[assignment]
    checkpoint: Annotated[Path | None, typer.Option(
        help="Checkpoint file or run directory (default: the latest run).")] = None,
    root: Annotated[Path | None, typer.Option(
        help="Folder the list's paths are relative to (default: the list's folder).")] = None,
    flip: Annotated[str, typer.Option(
        help="Mirror image: sum (insightface), concat (SphereFace: 2D columns) or none.")
    ] = "sum",
    normalize: Annotated[bool, typer.Option(
        "--normalize/--no-normalize", help="L2-normalize each row (--no-normalize: raw "
                                           "embeddings).")] = True,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 256,
    workers: Annotated[int, typer.Option(help="Loader processes decoding the images.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out.")
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                           help="Show a progress bar.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Export the embeddings of images: an (N, D) float32 matrix, one row per image in the
    order of the paths in the .json beside it; loadable without hyper (safetensors or
    numpy, and json). Images must have the checkpoint's input size."""
    from hypercli.engine.embed import FLIP_MODES, embed_checkpoint
    from hypercli.engine.embeddings_file import check_output
    from hypercli.errors import HyperError

    if flip not in FLIP_MODES:
        raise HyperError(f"--flip {flip!r}: use one of {', '.join(FLIP_MODES)}")
    if device not in ("auto", "cpu", "cuda"):
        raise HyperError(f"--device {device!r}: use auto, cpu or cuda")
    check_output(out, force)  # before looking for the latest run
    path = resolve_checkpoint(checkpoint)
    result = embed_checkpoint(path, images, out, root=root, flip=flip, normalize=normalize,
                              batch_size=batch_size, workers=workers, device=device,
                              force=force, progress=progress and not json_out,
                              console=console)
    if json_out:
        print_json(result)
        return
    norm = "L2-normalized" if result["normalized"] else "raw"
    console.print(f"{result['count']} x {result['dim']} embeddings ({norm}, flip "
                  f"{result['flip']}) of {result['recipe']} -> {result['out']} + "
                  f"{result['sidecar']}")
