"""The mhe regularizer: layer choice, the authors' weights, logs, and use by the engine."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.mhe import MHE, hyperspherical_energy
from hypercli.registry import REGULARIZERS
from tests.conftest import tiny_tree


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def tiny_model() -> nn.Module:
    from hypercli.models import create_model
    from hypercli.recipe import build_recipe

    torch.manual_seed(0)
    return create_model(build_recipe(tiny_tree()), 4, 3, 16)


CONVS = ["body.0", "body.4", "body.8"]


def test_registered_and_rejects_unknown_args():
    assert "mhe" in REGULARIZERS.names()
    assert isinstance(REGULARIZERS.create("mhe", s=0), MHE)
    with pytest.raises(HyperError, match="takes no argument 'power'"):
        REGULARIZERS.create("mhe", power=1)
    with pytest.raises(HyperError, match="unknown MHE energy"):
        REGULARIZERS.create("mhe", s="3x")
    with pytest.raises(HyperError, match="layers"):
        REGULARIZERS.create("mhe", layers="output")


@pytest.mark.parametrize("s, hidden, output", [
    ("0", 1.0, 10.0), ("1", 1.0, 10.0), ("2", 1.0, 10.0),
    ("a0", 1.0, 10.0), ("a1", 0.1, 1.0), ("a2", 0.1, 1.0),
])
def test_authors_default_weights(s, hidden, output):
    reg = MHE(s=s)
    assert (reg.hidden_weight, reg.output_weight) == (hidden, output)


@pytest.mark.parametrize("s", ["0", "1", "a2"])
def test_loss_is_the_weighted_sum_over_layers(s):
    model = tiny_model()
    reg = MHE(s=s, half_space=True, lam=0.5)
    reg.attach(model)
    term, logs = reg.loss()
    convs = dict(model.named_modules())
    hidden = sum(hyperspherical_energy(convs[n].weight.detach(), s, half_space=True)
                 for n in CONVS)
    head = hyperspherical_energy(model.head.weight.detach(), s, half_space=False)
    expected = 0.5 * (reg.hidden_weight * hidden + reg.output_weight * head)
    assert float(term.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert set(logs) == {*CONVS, "head", "total"}
    assert all(isinstance(v, float) for v in logs.values())
    assert logs["head"] == pytest.approx(float(head), rel=1e-5)
    assert logs["total"] == pytest.approx(float(term.detach()), rel=1e-6)


def test_layer_choice():
    model = tiny_model()
    cls = MHE(layers="classifier")
    cls.attach(model)
    assert [t[0] for t in cls.targets] == ["head"] and cls.targets[0][1] is model.head.weight
    hid = MHE(layers="hidden")
    hid.attach(model)
    assert [t[0] for t in hid.targets] == CONVS
    with pytest.raises(HyperError, match="no such"):
        MHE(layers="classifier").attach(nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_gradient_reaches_the_weights_and_lowers_the_energy():
    model = tiny_model()
    reg = MHE(s="1", lam=1.0)
    reg.attach(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    first, _ = reg.loss()
    for _ in range(20):
        term, _ = reg.loss()
        opt.zero_grad()
        term.backward()
        opt.step()
    last, _ = reg.loss()
    assert model.head.weight.grad is not None and model.body[0].weight.grad.abs().sum() > 0
    assert float(last.detach()) < float(first.detach())


def test_engine_logs_each_layer(tmp_path):
    from hypercli.engine import train
    from hypercli.recipe import build_recipe

    tree = tiny_tree(regularizers=[{"name": "mhe", "args": {"s": 0, "half_space": True}}],
                     train={"epochs": 1, "device": "cpu"})
    summary = train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    for name in [*CONVS, "head", "total"]:
        assert isinstance(record[f"mhe/{name}"], float)
    assert summary["history"][-1]["train_loss"] > 0
