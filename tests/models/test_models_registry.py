"""Every registered model with every registered operator and head: shapes, gradients, [0,1]."""

from __future__ import annotations

import pytest
import torch

from hypercli.errors import HyperError
from hypercli.models import create_model
from hypercli.recipe import Recipe
from hypercli.registry import CONVS, HEADS, MODELS

SHAPES = {"plain-cnn-small": (1, 28), "plain-cnn-9": (3, 32), "resnet20": (3, 32),
          "resnet32": (3, 32), "dcnet-resnet18": (3, 32),
          **{f"sphereface{d}": (3, (112, 96)) for d in (20, 36, 64)},
          **{f"iresnet{d}": (3, 112) for d in (18, 34, 50, 100)}}
SMALL = {"plain-cnn-small": {"widths": [4, 8, 8], "final_width": 8},
         "plain-cnn-9": {"widths": [4, 8, 8], "final_width": 8},
         "resnet20": {"widths": [4, 8, 8]}, "resnet32": {"widths": [4, 8, 8]},
         "dcnet-resnet18": {"widths": [4, 8, 8, 8], "units": [1, 2, 1, 1]},
         **{f"sphereface{d}": {"width": 2, "embedding_size": 8} for d in (20, 36, 64)},
         **{f"iresnet{d}": {"width": 2, "embedding_size": 8} for d in (18, 34, 50, 100)}}
NEED_BATCHNORM = {f"iresnet{d}" for d in (18, 34, 50, 100)}  # refuse model.batchnorm: false
# the face networks take 112 px images, so they run with the plain operator here; every
# operator drops into them in tests/models/test_models_faces.py
FACES = {f"sphereface{d}" for d in (20, 36, 64)} | NEED_BATCHNORM
# other libraries' models (torchvision/<name>, timm/<name>): tests/models/test_models_external.py
BUILT_HERE = [n for n in MODELS.names() if "<name>" not in n]


def test_every_model_has_a_shape():
    assert set(BUILT_HERE) <= set(SHAPES), "add the new model to SHAPES/SMALL"


@pytest.mark.parametrize("batchnorm", [True, False])
@pytest.mark.parametrize(("model", "conv"), [(m, c) for m in BUILT_HERE for c in CONVS.names()
                                             if m not in FACES or c == "conv"])
def test_model_with_operator(model, conv, batchnorm):
    channels, size = SHAPES[model]
    h, w = (size, size) if isinstance(size, int) else size
    r = Recipe.model_validate({"model": {"name": model, "args": SMALL[model], "conv": conv,
                                         "batchnorm": batchnorm}})
    torch.manual_seed(0)
    if model in NEED_BATCHNORM and not batchnorm:
        with pytest.raises(HyperError, match="model.batchnorm: false is not supported"):
            create_model(r, 5, channels, size)
        return
    net = create_model(r, 5, channels, size)
    x = torch.rand(3, channels, h, w)
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
