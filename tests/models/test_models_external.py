"""torchvision/<name> and timm/<name> models: converted, trained, regularized, and their errors."""

from __future__ import annotations

import sys
import urllib.error

import pytest
import torch
import torchvision.models as tvm
from torch import nn

from hypercli.errors import HyperError
from hypercli.mhe import layer_energies
from hypercli.models import create_model
from hypercli.nn import SphereConv2d, SphereLinear
from hypercli.recipe import Recipe
from hypercli.registry import MODELS, REGULARIZERS


def _recipe(name: str, **model) -> Recipe:
    return Recipe.model_validate({"model": {"name": name, **model}})


def _n_convs(net: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in net.body.modules())


def test_resnet18_on_the_sphere_trains_on_small_images_and_mhe_reports_energies():
    torch.manual_seed(0)
    net = create_model(_recipe("torchvision/resnet18", conv="sphere"), 4, 1, 28)
    convs = [m for m in net.body.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 20 and all(type(m) is SphereConv2d for m in convs)
    assert convs[0].in_channels == 1  # the stem takes the data's channels
    assert not any(isinstance(m, nn.Linear) for m in net.body.modules())  # fc is the head
    x = torch.rand(8, 1, 28, 28)
    y = torch.arange(8) % 4
    x = x + 0.5 * y.view(-1, 1, 1, 1).float() / 4  # learnable: brightness tells the class
    assert net.features(x).shape == (8, 512) and net(x).shape == (8, 4)

    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(4):
        loss, _ = net(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses

    mhe = REGULARIZERS.create("mhe", s="1", half_space=True)
    mhe.attach(net)
    orth = REGULARIZERS.create("orthogonality")
    orth.attach(net)
    assert len(orth.modules) == 20
    with torch.no_grad():
        term, energies = mhe.loss()
        oterm, _ = orth.loss()
    assert float(term) > 0 and float(oterm) > 0
    assert len(energies) == 20 + 2  # 20 convs, the head, total
    assert "head" in energies and all(v > 0 for v in energies.values())
    per_layer = layer_energies(net)
    assert set(per_layer) == set(energies) - {"total"}


@pytest.mark.parametrize(("name", "channels", "size", "width"), [
    ("mobilenet_v3_small", 3, 28, 1024),
    ("squeezenet1_1", 1, 32, 512),  # a 1x1-conv classifier
    ("shufflenet_v2_x0_5", 3, 28, 1024),
])
def test_more_torchvision_models_run_on_small_images(name, channels, size, width):
    torch.manual_seed(0)
    net = create_model(_recipe(f"torchvision/{name}", conv="sphere", linear="sphere",
                               feature_dim=8), 5, channels, size)
    assert net.body(torch.rand(2, channels, size, size)).shape == (2, width)
    assert net.features(torch.rand(2, channels, size, size)).shape == (2, 8)
    assert isinstance(net.embed, SphereLinear)
    assert all(type(m) is SphereConv2d for m in net.body.modules() if isinstance(m, nn.Conv2d))


def test_a_network_too_deep_for_small_images_says_what_to_do():
    with pytest.raises(HyperError, match=r"cannot run on 28px images.*model\.args\.input_size"):
        create_model(_recipe("torchvision/vgg11"), 10, 1, 28)
    net = create_model(_recipe("torchvision/mobilenet_v3_small", args={"input_size": 64}),
                       10, 1, 28)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_pretrained_weights_come_from_torchvision_cache_and_are_copied(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(3)
    reference = tvm.resnet18(weights=None)
    url = tvm.ResNet18_Weights.IMAGENET1K_V1.url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1])
    net = create_model(_recipe("torchvision/resnet18", conv="sphere",
                               args={"weights": "IMAGENET1K_V1"}), 7, 3, 32)
    assert type(net.body.layer3[0].conv2) is SphereConv2d
    assert torch.equal(net.body.layer3[0].conv2.weight, reference.layer3[0].conv2.weight)
    assert torch.equal(net.body.conv1.weight, reference.conv1.weight)
    assert torch.equal(net.body.bn1.running_var, reference.bn1.running_var)
    gray = create_model(_recipe("torchvision/resnet18", args={"weights": "DEFAULT"}), 7, 1, 32)
    assert torch.allclose(gray.body.conv1.weight, reference.conv1.weight.sum(1, keepdim=True))


def test_pretrained_weights_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(HyperError, match=r"could not load the DEFAULT weights.*needs the "
                                         r"internet, or put that file at .*resnet18-"):
        create_model(_recipe("torchvision/resnet18", args={"weights": "DEFAULT"}), 10, 3, 32)
    with pytest.raises(HyperError, match="weights 'IMAGENET9K' is unknown; choose one of: DEF"):
        create_model(_recipe("torchvision/resnet18", args={"weights": "IMAGENET9K"}), 10, 3, 32)


def test_unknown_names_and_timm_without_timm(monkeypatch):
    with pytest.raises(HyperError, match="unknown torchvision classification model 'resnet19'"
                                         r" \(did you mean 'resnet18'\?\)"):
        create_model(_recipe("torchvision/resnet19"), 10, 3, 32)
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm fails as if not installed
    with pytest.raises(HyperError, match=r"^timm/resnet18 needs the timm package: pip install "
                                         r"timm$"):
        create_model(_recipe("timm/resnet18"), 10, 3, 32)
    with pytest.raises(HyperError, match="model.batchnorm: false is not supported"):
        create_model(_recipe("torchvision/resnet18", batchnorm=False), 10, 3, 32)


def test_timm_models_when_timm_is_installed():
    pytest.importorskip("timm")  # an optional package: this runs where it is installed
    net = create_model(_recipe("timm/resnet18", conv="sphere"), 10, 1, 28)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert all(type(m) is SphereConv2d for m in net.body.modules() if isinstance(m, nn.Conv2d))


def test_families_are_listed():
    names = MODELS.names()
    assert "torchvision/<name>" in names and "timm/<name>" in names
    assert "torchvision/resnet18" in MODELS and "dcnet-resnet18" in names
    assert "torchvision" in MODELS.help("torchvision/<name>")


def test_dcnet_resnet18_layout():
    """The authors' ImageNet layout: 18 convolutions at 224 px, 7x7 final map, 1024 wide."""
    net = create_model(_recipe("dcnet-resnet18"), 1000, 3, 224)
    convs = [m for m in net.body.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 18
    assert [(m.kernel_size[0], m.stride[0], m.out_channels) for m in convs[:1]] == [(7, 2, 128)]
    strided = [(m.out_channels, m.in_channels) for m in convs if m.stride == (2, 2)]
    assert strided == [(128, 3), (256, 128), (512, 256), (1024, 512)]
    assert sum(isinstance(m, nn.PReLU) for m in net.body.modules()) == 1 + 3 + 7
    feats = {}
    net.body[-2].register_forward_hook(lambda m, i, o: feats.update(map=i[0].shape))
    net.eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 224, 224)).shape == (1, 1000)
    assert feats["map"] == (1, 1024, 7, 7)
    flat = create_model(_recipe("dcnet-resnet18", args={"pool": "flatten"}), 10, 3, 64)
    assert flat.feature_dim == 1024 * 2 * 2
    assert flat(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_hyper_list_shows_the_new_models():
    import json

    from typer.testing import CliRunner

    from hypercli.cli.main import app

    res = CliRunner().invoke(app, ["list", "--json"])
    assert res.exit_code == 0, res.output
    models = json.loads(res.stdout)["models"]
    assert {"torchvision/<name>", "timm/<name>", "dcnet-resnet18"} <= set(models)
    assert "pip install timm" in models["timm/<name>"]


def test_a_run_from_pretrained_weights_reloads_offline(tmp_path, monkeypatch):
    """Training fetches the weights once; the checkpoint brings its own, so eval needs no
    internet and no cache."""
    from hypercli.engine.checkpoint import load_checkpoint
    from hypercli.engine.trainer import train
    from hypercli.recipe import build_recipe
    from tests.conftest import tiny_tree

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    url = tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1.url
    torch.save(tvm.squeezenet1_1(weights=None).state_dict(), cache / url.rsplit("/", 1)[1])
    tree = tiny_tree(model={"name": "torchvision/squeezenet1_1", "args": {"weights": "DEFAULT"},
                            "conv": "sphere"}, train={"epochs": 1, "device": "cpu"})
    tree["data"]["args"].update(channels=3, image_size=32, train_size=64, test_size=32)
    summary = train(build_recipe(tree), out_dir=tmp_path / "run", progress=False)
    for f in cache.iterdir():
        f.unlink()

    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    model, _ = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert isinstance(model.body.features[0], SphereConv2d)
    assert summary["test_accuracy"] is not None
