"""Samples of a trained generator: loading it from a checkpoint, drawing images, grids.

What scoring (FID, IS, KID) and the pictures call::

    g, z_dim, shape, recipe = load_generator("runs/sngan-fmnist/latest", "cpu")
    x = sample(g, 10_000, seed=0)               # (10000, 1, 28, 28) float32 in [0, 1]
    save_grid(x[:64], "grid.png")

Images come from the generator in eval mode (BatchNorm's running statistics, as the
SNGAN and MHE-GAN code sample), mapped from tanh's [-1, 1] to [0, 1]. The codes z are
drawn on the CPU from ``seed`` alone, so a sample does not depend on the device or the
batch size.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hypercli.errors import HyperError


def fixed_noise(n: int, z_dim: int, seed: int) -> Tensor:
    """(n, z_dim) float32 codes z ~ N(0, I) on the CPU, from ``seed`` alone."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def to_unit(x: Tensor) -> Tensor:
    """Generator output in [-1, 1] -> images in [0, 1] (clamped)."""
    return x.add(1.0).mul_(0.5).clamp_(0.0, 1.0)


def sample(generator: nn.Module, n: int, seed: int = 0, batch_size: int = 500,
           device: str | torch.device = "cpu") -> Tensor:
    """``n`` images of ``generator``: float32 (n, C, H, W) in [0, 1], on the CPU.

    ``generator.z_dim`` gives the code length (every generator ``build_gan`` makes has
    it). The generator runs in eval mode on ``device``, in batches of ``batch_size``, and
    is put back in the mode it was in. Raises ``HyperError`` for n < 1 or batch_size < 1.
    """
    if n < 1 or batch_size < 1:
        raise HyperError(f"sample: n={n} and batch_size={batch_size} must each be >= 1")
    z_dim = getattr(generator, "z_dim", None)
    if not isinstance(z_dim, int):
        raise HyperError("sample: the generator has no int z_dim attribute (build it with "
                         "hypercli.gan.build_gan or load it with load_generator)")
    dev = torch.device(device)
    z = fixed_noise(n, z_dim, seed)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            out = [to_unit(generator(z[a:a + batch_size].to(dev)).float()).cpu()
                   for a in range(0, n, batch_size)]
    finally:
        generator.train(was_training)
    return torch.cat(out)


def load_gan(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[Any, Any]:
    """``(GAN, recipe)`` of a ``task: gan`` checkpoint (file or run folder), in eval mode on
    ``device``. ``HyperError`` for a checkpoint of another task, non-finite weights or
    weights that do not fit the stored recipe. Nothing in the file is executed."""
    from hypercli.checks import require_finite_state
    from hypercli.engine.checkpoint import load_weights, read_checkpoint
    from hypercli.gan.model import build_gan
    from hypercli.recipe import build_recipe

    state = read_checkpoint(checkpoint)
    task = state["recipe"].get("task", "classify")
    if task != "gan":
        raise HyperError(f"{checkpoint} holds a {task!r} run, not a GAN (task: gan)")
    require_finite_state(state["model"], f"{checkpoint}: the weights",
                         "the run diverged before this checkpoint; it cannot give samples")
    recipe = build_recipe(state["recipe"], f"{checkpoint} (stored recipe)")
    meta = state["data"]
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the
        gan = build_gan(recipe.gan, int(meta["in_channels"]), int(meta["image_size"]))
    load_weights(gan, state["model"], str(checkpoint))  # caller's RNG as it was
    return gan.to(device).eval(), recipe


def load_generator(checkpoint: str | Path, device: str | torch.device = "cpu"
                   ) -> tuple[nn.Module, int, tuple[int, int, int], Any]:
    """``(generator, z_dim, (C, H, W), recipe)`` of a GAN checkpoint; the generator in eval
    mode on ``device``, mapping (B, z_dim) codes to (B, C, H, W) images in [-1, 1]
    (``sample`` maps them to [0, 1])."""
    from hypercli.engine.checkpoint import read_checkpoint

    gan, recipe = load_gan(checkpoint, device)
    meta = read_checkpoint(checkpoint)["data"]
    size = int(meta["image_size"])
    return gan.generator, int(gan.z_dim), (int(meta["in_channels"]), size, size), recipe


def grid_columns(n: int) -> int:
    """Columns of a near-square grid of n images: ceil(sqrt(n))."""
    return max(1, math.ceil(math.sqrt(n)))


def grid_image(images: Tensor, nrow: int | None = None, padding: int = 2) -> Tensor:
    """(N, C, H, W) images in [0, 1] -> one uint8 (H', W', 3 or 1) grid, ``nrow`` images a
    row (default ceil(sqrt N)) with ``padding`` black pixels between and around them:
    W' = nrow·(W + padding) + padding (``torchvision.utils.make_grid``)."""
    from torchvision.utils import make_grid

    grid = make_grid(images.float().cpu(), nrow=nrow or grid_columns(len(images)),
                     padding=padding)  # (3, H', W'); one channel is repeated to three
    if images.shape[1] == 1:
        grid = grid[:1]
    return grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0)


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None,
              padding: int = 2) -> Path:
    """Write ``grid_image(images)`` as a PNG (gray for one channel), atomically."""
    from PIL import Image

    from hypercli.engine.io import atomic_write_bytes

    arr = grid_image(images, nrow, padding).numpy()
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
