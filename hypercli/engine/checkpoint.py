"""Checkpoints: everything a run needs to resume, loadable without executing code.

A checkpoint is a ``torch.save`` of plain containers and tensors, read back with
``torch.load(weights_only=True)``, so a tampered file cannot run code; a truncated or
foreign file is a ``HyperError``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from hypercli.engine.io import atomic_torch_save
from hypercli.errors import HyperError

FORMAT = "hyper-checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_torch_save({"format": FORMAT, "version": VERSION, **state}, path)


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint file, or the checkpoint inside a run directory."""
    p = Path(path)
    if p.is_dir():
        p = p / FILENAME
    if not p.is_file():
        raise HyperError(f"checkpoint {str(path)!r} does not exist; train one with `hyper train`")
    return p


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict; refuses files that are not safe hyper checkpoints."""
    p = checkpoint_file(path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise HyperError(f"{p} was refused: it holds objects that could run code "
                         f"({first[:160]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError,
            TypeError) as exc:
        raise HyperError(f"{p} is not a readable checkpoint (truncated or corrupted?): "
                         f"{str(exc).splitlines()[0][:160]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise HyperError(f"{p} is not a hyper checkpoint")
    if state.get("version", 0) > VERSION:
        raise HyperError(f"{p} was written by a newer hyper (format {state['version']})")
    return state


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Load a trained model: ``(model, recipe)``, the model in eval mode on ``device``.

    The model takes images in [0, 1]; ``model(x)`` gives logits, ``model.features(x)``
    the deep features.
    """
    from hypercli.models import create_model
    from hypercli.recipe import build_recipe

    state = read_checkpoint(path)
    recipe = build_recipe(state["recipe"], f"{path} (stored recipe)")
    meta = state["data"]
    model = create_model(recipe, meta["num_classes"], meta["in_channels"], meta["image_size"],
                         meta["mean"], meta["std"], pretrained=False)  # the weights are here
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise HyperError(f"{path}: weights do not fit the stored recipe: "
                         f"{str(exc).splitlines()[0][:160]}") from None
    return model.to(device).eval(), recipe
