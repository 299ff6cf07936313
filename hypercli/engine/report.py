"""``report``: everything ``hyper eval`` says about a checkpoint, as one dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hypercli.data import Split, build_data, load_split
from hypercli.engine.checkpoint import load_checkpoint, read_checkpoint
from hypercli.engine.distributed import resolve_device
from hypercli.engine.evaluate import evaluate, predict
from hypercli.errors import HyperError


def report(checkpoint: str | Path, split: str = "test", device: str = "auto",
           energies: bool = True) -> dict[str, Any]:
    """Accuracy, loss, per-class accuracy, confusion matrix of a checkpoint on ``split``;
    open-set verification when its recipe asks (``eval.verification``); the hyperspherical
    energy of each layer when the MHE module is available."""
    state = read_checkpoint(checkpoint)
    if state["recipe"].get("task", "classify") == "gan":
        raise HyperError(f"{checkpoint} is a GAN run (task: gan): its scores are "
                         "hypercli.gan.evaluate.score_checkpoint (`hyper eval` runs it)")
    meta = state["data"]
    dev = resolve_device(device)
    model, recipe = load_checkpoint(checkpoint, dev)
    data = build_data(recipe.data, recipe.seed, require_test=not recipe.eval.verify)
    part = {"test": data.test, "train": data.train, "val": data.val}[split]
    if part is None and split == "test":
        sets = " ".join(f"--verify {v.path}" + (f" --images {v.images}" if v.images else "")
                        for v in recipe.eval.verify)
        raise HyperError(f"this run's data has no test split; it is scored on its "
                         f"verification sets: hyper eval --checkpoint {checkpoint} {sets}")
    if part is None:
        raise HyperError("--split val: this run has no validation split (data.val_split is 0)")
    out: dict[str, Any] = {"checkpoint": str(checkpoint), "recipe": recipe.name,
                           "split": split, "class_names": meta["class_names"]}
    out.update(evaluate(model, part, dev, recipe.data.eval_batch_size, meta["num_classes"],
                        recipe.eval.tta))
    ver = recipe.eval.verification
    if ver is not None:
        from hypercli.verification.drawn import verification

        if not isinstance(data.test, Split):
            raise HyperError("eval.verification draws pairs from an in-memory dataset; "
                             f"{recipe.data.name} is streamed from disk")
        pairs_split = load_split(recipe.data, "test", ver.classes)
        feats = predict(model, pairs_split.images, dev, recipe.data.eval_batch_size,
                        features=True)
        out["verification"] = verification(feats, pairs_split.labels, pairs=ver.pairs,
                                           folds=ver.folds, far=ver.far, seed=recipe.seed)
    if energies:
        try:
            from hypercli.mhe import layer_energies
        except ImportError:
            pass
        else:
            mhe = next((r.args for r in recipe.regularizers if r.name == "mhe"), {})
            s, half = str(mhe.get("s", "1")), bool(mhe.get("half_space", False))
            with torch.no_grad():
                out["energies"] = layer_energies(model, s=s, half_space=half)
            out["energy_kind"] = {"s": s, "half_space": half}
    return out
