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

from hypercli.checks import image_hw, require_finite_state
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
        if not (p / FILENAME).is_file():
            raise HyperError(f"{str(path)!r} is a folder without a {FILENAME}: not a run "
                             "folder, or a run that stopped before its first checkpoint; "
                             "pass a run folder or a checkpoint file")
        p = p / FILENAME
    if not p.is_file():
        raise HyperError(f"checkpoint {str(path)!r} does not exist; train one with `hyper train`")
    return p


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


# what every checkpoint holds, with the type each entry must have
_REQUIRED = {"recipe": dict, "data": dict, "model": dict}
_DATA_KEYS = ("num_classes", "in_channels", "image_size", "mean", "std", "class_names")
# what a resumable checkpoint holds in addition
RESUME_KEYS = {"optimizer": dict, "scheduler": dict, "epoch": int, "batch": int, "step": int,
               "history": list, "epoch_stats": dict, "rng": dict}


def require_keys(state: dict[str, Any], p: Path, keys: dict[str, type]) -> None:
    """Raise ``HyperError`` unless ``state`` has each key with a value of its type."""
    for key, kind in keys.items():
        if key not in state:
            raise HyperError(f"{p} is not a whole hyper checkpoint: it has no {key!r} entry")
        if not isinstance(state[key], kind):
            raise HyperError(f"{p} is not a whole hyper checkpoint: its {key!r} entry is a "
                             f"{type(state[key]).__name__}, not a {kind.__name__}")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict; refuses files that are not safe, whole hyper checkpoints."""
    p = checkpoint_file(path)
    if not zipfile.is_zipfile(p):  # torch.save writes a zip archive (since torch 1.6)
        what = "an empty file" if p.stat().st_size == 0 else "no torch zip archive"
        raise HyperError(f"{p} is not a readable checkpoint ({what}): truncated, or not written by "
                         "`hyper train`?")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise HyperError(f"{p} was refused: it holds objects that could run code "
                         f"({_first_line(exc)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError,
            TypeError) as exc:
        raise HyperError(f"{p} is not a readable checkpoint (truncated or corrupted?): "
                         f"{_first_line(exc)}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise HyperError(f"{p} is not a hyper checkpoint")
    if state.get("version", 0) > VERSION:
        raise HyperError(f"{p} was written by a newer hyper (format {state['version']})")
    require_keys(state, p, _REQUIRED)
    missing = [k for k in _DATA_KEYS if k not in state["data"]]
    if missing:
        raise HyperError(f"{p} is not a whole hyper checkpoint: its data entry lacks "
                         f"{missing[0]!r}")
    bad = [k for k, v in state["model"].items() if not isinstance(k, str)
           or not isinstance(v, torch.Tensor)]
    if bad:
        raise HyperError(f"{p} is not a whole hyper checkpoint: model entry {str(bad[0])!r} is "
                         "no tensor")
    return state


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Load a trained model: ``(model, recipe)``, the model in eval mode on ``device``.

    The model takes images in [0, 1]; ``model(x)`` gives logits, ``model.features(x)``
    the deep features.
    """
    from hypercli.models import create_model
    from hypercli.recipe import build_recipe

    state = read_checkpoint(path)
    task = state["recipe"].get("task", "classify")
    if task != "classify":
        raise HyperError(f"{path} holds a {task!r} run, not a classifier (task classify); "
                         f"`hyper visualize-features -c {path}` draws a GAN's samples, "
                         "--layers its discriminator's filters")
    require_finite_state(state["model"], f"{path}: the weights",
                         "the run diverged before this checkpoint; it cannot give numbers")
    recipe = build_recipe(state["recipe"], f"{path} (stored recipe)")
    meta = state["data"]
    size = image_hw(meta["image_size"], f"{path}: its data entry's image_size")  # S or [H, W]
    try:
        model = create_model(recipe, meta["num_classes"], meta["in_channels"],
                             size, meta["mean"], meta["std"],
                             pretrained=False)  # the weights are in the checkpoint
    except (TypeError, ValueError) as exc:
        raise HyperError(f"{path}: its data entry does not describe a model: "
                         f"{_first_line(exc)}") from None
    load_weights(model, state["model"], f"{path}")
    return model.to(device).eval(), recipe


def stored_task(path: str | Path) -> str:
    """The kind of run (recipe ``task``) a checkpoint holds: ``classify``, ``gan``, ..."""
    return str(read_checkpoint(path)["recipe"].get("task", "classify"))


def load_weights(model: torch.nn.Module, weights: dict[str, Any], where: str,
                 hint: str = "") -> None:
    """``model.load_state_dict(weights)``; a mismatch is a ``HyperError`` naming the tensors
    that are missing, unexpected, or of another shape."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in weights and tuple(weights[k].shape) != tuple(v.shape)]
    problems = ([f"shape of {', '.join(shapes[:3])}"] if shapes else []) + \
        ([f"missing {', '.join(missing[:3])}"] if missing else []) + \
        ([f"unexpected {', '.join(unexpected[:3])}"] if unexpected else [])
    if problems:
        raise HyperError(f"{where}: the weights do not fit the recipe's model ("
                         + "; ".join(problems) + ")" + (f"; {hint}" if hint else ""))
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise HyperError(f"{where}: the weights do not fit the recipe's model: "
                         f"{_first_line(exc)}") from None
