"""Test-time flip: the logits are the mean over each image and its mirror (a closed form)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hypercli.data.base import Split
from hypercli.engine.evaluate import evaluate, predict


class _Linear(nn.Module):
    """logits = W vec(x): a model whose mirrored output is known in closed form."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return x.flatten(1) @ self.w.T


def test_flip_tta_is_the_mean_over_image_and_mirror():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 1 * 4 * 5, generator=g)
    images = torch.randint(0, 256, (7, 1, 4, 5), dtype=torch.uint8, generator=g)
    got = predict(_Linear(w), images, tta=("flip",), batch_size=3).double().numpy()
    x = images.double().numpy() / 255.0
    wn = w.double().numpy().reshape(3, 1, 4, 5)
    want = np.zeros((7, 3))
    for n in range(7):
        for k in range(3):
            for i in range(4):
                for j in range(5):
                    want[n, k] += wn[k, 0, i, j] * (x[n, 0, i, j] + x[n, 0, i, 4 - j]) / 2
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    plain = predict(_Linear(w), images).double().numpy()
    assert not np.allclose(plain, want, atol=1e-3)  # the mirror changes these logits


def test_evaluate_with_tta_scores_the_averaged_logits():
    w = torch.zeros(2, 4)
    w[0, 0], w[1, 1] = 1.0, 1.0  # class 0: left pixel, class 1: right pixel
    images = torch.tensor([[[[255, 0]]], [[[0, 255]]]], dtype=torch.uint8)  # (2, 1, 1, 2)
    split = Split(images, torch.tensor([0, 1]))
    model = _Linear(w[:, :2])
    assert evaluate(model, split)["accuracy"] == 1.0
    flipped = evaluate(model, split, tta=["flip"])  # every image scores both classes alike
    np.testing.assert_allclose(flipped["loss"], np.log(2.0), rtol=1e-6)
