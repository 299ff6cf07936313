"""``score_checkpoint``: what ``hyper eval`` reports of a GAN run: FID, Inception Score and KID
of its generator's samples against the real test images, over a named feature network, and
the hyperspherical energy of each discriminator layer.

The feature network is the recipe's ``gan.features`` or the ``features`` argument
(``hypercli.gan.features``: ``checkpoint:RUN`` of a hyper classifier trained on the same
images, or ``inception:WEIGHTS``); every score is labelled with its name
(``FID (fmnist-quick features)``), never as the Inception figure::

    r = score_checkpoint("runs/sngan-fmnist/latest", features="checkpoint:runs/fmnist-quick/x")
    r["fid"], r["is"], r["kid"], r["labels"]["fid"]
"""

from __future__ import annotations

import os
from typing import Any

import torch

from hypercli.errors import HyperError


def real_images(recipe: Any, n: int) -> torch.Tensor:
    """The first ``n`` test images of the run's data as uint8 (n, C, H, W)."""
    from hypercli.data import build_data

    data = build_data(recipe.data, recipe.seed)
    split = data.test
    if hasattr(split, "images"):
        return split.images[:n]
    out, got = [], 0
    for x, _ in split.batches(min(n, 1000)):
        out.append(x[: n - got])
        got += len(out[-1])
        if got >= n:
            break
    return torch.cat(out)


def score_checkpoint(checkpoint: str | os.PathLike[str], features: str | None = None,
                     samples: int | None = None, device: str = "auto",
                     seed: int = 0) -> dict[str, Any]:
    """FID, IS (± std over 10 splits) and KID (± std over 100 subsets) of ``samples``
    generated images (default: the recipe's ``gan.score_samples``, at most the test split's
    size) against as many real test images, over ``features`` (default: the recipe's
    ``gan.features``), plus ``d_energies`` (s=0 per discriminator layer) and ``labels``
    (each score's name with its network). Raises ``HyperError`` when no feature network is
    named, or as ``load_gan`` / ``load_feature_network`` / ``gan_scores`` do."""
    from hypercli.engine.distributed import resolve_device
    from hypercli.gan.sampling import load_gan, sample
    from hypercli.gan.scores import METRICS, gan_scores, load_feature_network, score_label
    from hypercli.mhe import layer_energies

    dev = resolve_device(device)
    gan, recipe = load_gan(checkpoint, dev)
    spec = features or (recipe.gan.features if recipe.gan is not None else None)
    if not spec:
        raise HyperError(f"{checkpoint}: no feature network for FID / IS / KID; pass "
                         "--features checkpoint:RUN (a hyper classifier of the same images, "
                         "e.g. a fmnist-quick run) or --features inception:WEIGHTS.pth, or "
                         "set gan.features in the recipe")
    net = load_feature_network(spec, dev)
    n = samples or (recipe.gan.score_samples if recipe.gan is not None else 10_000)
    real = real_images(recipe, n)
    fake = sample(gan.generator, len(real), seed=seed, device=dev)
    scores = gan_scores(fake, real, net, seed=seed)
    with torch.no_grad():
        energies = layer_energies(gan.discriminator, s="0")
    return {"checkpoint": str(checkpoint), "recipe": recipe.name, **scores,
            "labels": {m: score_label(m, net) for m in METRICS if m in scores},
            "d_energies": energies}
