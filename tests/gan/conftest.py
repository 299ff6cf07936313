"""A tiny GAN recipe on synthetic 16 px images that trains in about a second."""

from __future__ import annotations

import pytest

from hypercli.recipe import build_recipe
from tests.conftest import merge_sections, tiny_tree

TINY_NETS = {"z_dim": 8, "generator_args": {"widths": [16, 8, 4]},
             "discriminator_args": {"widths": [4, 8, 16]}, "grid_samples": 16,
             "lr_g": 2e-3, "lr_d": 2e-3}


def gan_tree(**sections) -> dict:
    """``tiny_tree`` as a GAN: 256 synthetic 16 px images, batches of 32, tiny networks."""
    tree = tiny_tree()
    for key in ("model", "optimizer", "schedule"):  # a GAN has its own (a warning otherwise)
        tree.pop(key)
    tree.update(name="tiny-gan", task="gan", gan=dict(TINY_NETS))
    return merge_sections(tree, sections)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A finished 2-epoch run with MHE on the discriminator: (run dir, summary)."""
    import torch

    from hypercli.engine import train

    out = tmp_path_factory.mktemp("gan") / "run"
    tree = gan_tree(regularizers=[{"name": "mhe", "args": {"s": "0", "layers": "hidden"}}])
    torch.set_num_threads(1)
    return out, train(build_recipe(tree), out_dir=out, progress=False)
