"""Shared fixtures: a tiny synthetic recipe that trains in seconds, isolated run folders."""

from __future__ import annotations

import pytest
import torch

from hypercli.recipe import Recipe, build_recipe


def tiny_tree(**sections) -> dict:
    """A recipe tree for a small CNN on a small synthetic dataset (a few seconds on a CPU)."""
    tree = {
        "name": "tiny",
        "seed": 0,
        "data": {"name": "synthetic", "args": {"train_size": 256, "test_size": 128,
                                               "image_size": 16, "num_classes": 4},
                 "batch_size": 32},
        "model": {"name": "plain-cnn-small", "args": {"widths": [8, 16], "final_width": 16}},
        "optimizer": {"name": "sgd", "lr": 0.05},
        "schedule": {"name": "constant"},
        "train": {"epochs": 2, "device": "cpu"},
    }
    return merge_sections(tree, sections)


def merge_sections(tree: dict, sections: dict) -> dict:
    """``tree`` with each of ``sections`` merged into its section (a dict) or set as is."""
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key] = {**tree[key], **value}
        else:
            tree[key] = value
    return tree


@pytest.fixture
def tiny_recipe() -> Recipe:
    return build_recipe(tiny_tree())


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    """Every test gets its own runs/ folder and a fixed thread count."""
    monkeypatch.setenv("HYPER_RUNS", str(tmp_path / "runs"))
    torch.set_num_threads(2)
