"""Every registered model with every registered operator and head: shapes, gradients, [0,1]."""

from __future__ import annotations

import pytest
import torch

from hypercli.models import create_model
from hypercli.recipe import Recipe
from hypercli.registry import CONVS, HEADS, MODELS

SHAPES = {"plain-cnn-small": (1, 28), "plain-cnn-9": (3, 32), "resnet20": (3, 32),
          "resnet32": (3, 32), "dcnet-resnet18": (3, 32)}
SMALL = {"plain-cnn-small": {"widths": [4, 8, 8], "final_width": 8},
         "plain-cnn-9": {"widths": [4, 8, 8], "final_width": 8},
         "resnet20": {"widths": [4, 8, 8]}, "resnet32": {"widths": [4, 8, 8]},
         "dcnet-resnet18": {"widths": [4, 8, 8, 8], "units": [1, 2, 1, 1]}}
# other libraries' models (torchvision/<name>, timm/<name>): tests/models/test_models_external.py
BUILT_HERE = [n for n in MODELS.names() if "<name>" not in n]


def test_every_model_has_a_shape():
    assert set(BUILT_HERE) <= set(SHAPES), "add the new model to SHAPES/SMALL"


@pytest.mark.parametrize("model", BUILT_HERE)
@pytest.mark.parametrize("conv", CONVS.names())
@pytest.mark.parametrize("batchnorm", [True, False])
def test_model_with_operator(model, conv, batchnorm):
    channels, size = SHAPES[model]
    r = Recipe.model_validate({"model": {"name": model, "args": SMALL[model], "conv": conv,
                                         "batchnorm": batchnorm}})
    torch.manual_seed(0)
    net = create_model(r, 5, channels, size)
    x = torch.rand(3, channels, size, size)
    y = torch.tensor([0, 1, 4])
    logits = net(x)
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    loss, train_logits = net(x, y)
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert torch.allclose(train_logits, logits, atol=1e-5) or not batchnorm


@pytest.mark.parametrize("head", HEADS.names())
def test_feature_dim_and_heads(head):
    r = Recipe.model_validate({"model": {"args": SMALL["plain-cnn-small"], "feature_dim": 2},
                               "loss": {"name": head}})
    net = create_model(r, 4, 1, 28)
    x = torch.rand(6, 1, 28, 28)
    assert net.features(x).shape == (6, 2) and net.feature_dim == 2
    assert net(x).shape == (6, 4)


def test_normalization_is_inside_the_model():
    r = Recipe.model_validate({"model": {"args": SMALL["plain-cnn-small"]}})
    net = create_model(r, 3, 1, 28, mean=[0.3], std=[0.5]).eval()
    x = torch.rand(2, 1, 28, 28)
    ref = net.embed(net.body((x - 0.3) / 0.5))
    assert torch.allclose(net.features(x), ref)
