"""The recipe schema: defaults, YAML files, --set overrides, and errors that name the key."""

from __future__ import annotations

import pytest
import yaml

from hypercli.errors import HyperError
from hypercli.recipe import Recipe, list_recipes, load_recipe, parse_override, resolve_recipe_path


def write(tmp_path, tree, name="r.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(tree))
    return p


def test_defaults_validate():
    r = Recipe()
    assert r.data.name == "fashion-mnist" and r.model.conv == "conv" and r.loss.name == "softmax"


def test_file_and_overrides(tmp_path):
    p = write(tmp_path, {"optimizer": {"lr": 0.5}, "train": {"epochs": 3}})
    r = load_recipe(p, ["optimizer.lr=0.01", "data.augment=[crop, flip]",
                        "regularizers=[{name: mhe, args: {s: '1'}}]"])
    assert r.name == "r"
    assert r.optimizer.lr == 0.01 and r.train.epochs == 3
    assert r.data.augment == ["crop", "flip"]
    assert r.regularizers[0].name == "mhe" and r.regularizers[0].args == {"s": "1"}


def test_override_into_list_item(tmp_path):
    p = write(tmp_path, {"regularizers": [{"name": "mhe", "args": {"s": "0"}}]})
    r = load_recipe(p, ["regularizers.0.args.s=a1"])
    assert r.regularizers[0].args["s"] == "a1"


@pytest.mark.parametrize("tree, key", [
    ({"optimizer": {"lrr": 0.1}}, "optimizer.lrr: unknown key"),
    ({"train": {"epochs": "ten"}}, "train.epochs"),
    ({"optimizer": {"lr": -1}}, "optimizer.lr"),
    ({"optimizer": {"name": "rmsprop"}}, "optimizer.name"),
    ({"data": {"imbalance": {"kind": "single", "classes": [1, 2], "ratios": [0.1, 0.2]}}},
     "data.imbalance"),
    ({"bogus": 1}, "bogus: unknown key"),
])
def test_errors_name_key_and_file(tmp_path, tree, key):
    p = write(tmp_path, tree)
    with pytest.raises(HyperError) as e:
        load_recipe(p)
    assert key in str(e.value) and str(p) in str(e.value)


def test_bad_override_forms(tmp_path):
    with pytest.raises(HyperError, match="key.path=value"):
        parse_override("optimizer.lr")
    with pytest.raises(HyperError, match="optimizer.lr"):
        load_recipe(None, ["optimizer.lr=abc"])
    with pytest.raises(HyperError, match="seed: Input should be a valid integer"):
        load_recipe(None, ["seed.x=1"])
    p = write(tmp_path, {"seed": 3})
    with pytest.raises(HyperError, match="seed is a value, not a section"):
        load_recipe(p, ["seed.x=1"])


def test_bad_yaml_and_non_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(HyperError, match="not valid YAML"):
        load_recipe(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(HyperError, match="mapping"):
        load_recipe(lst)


def test_bundled_names_resolve_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "fmnist-quick.yaml" in list_recipes()
    assert resolve_recipe_path("fmnist-quick").name == "fmnist-quick.yaml"
    assert resolve_recipe_path("fmnist-quick.yaml").name == "fmnist-quick.yaml"
    with pytest.raises(HyperError, match="fmnist-quick.yaml"):
        resolve_recipe_path("no-such-recipe")


IMAGENET = ["imagenet-resnet18.yaml", "imagenet-spherenet.yaml"]  # 224 px: their own test
FACES = ["sphereface20-casia.yaml", "sphereface64-casia.yaml", "arcface-r50-ms1m.yaml",
         "cosface-r50-ms1m.yaml", "spherefacer-r100-ms1m.yaml",
         "sphereface20-fmnist-proxy.yaml"]  # 112x96 / 112x112 faces: their own test


@pytest.mark.parametrize("name", [n for n in list_recipes() if n not in IMAGENET + FACES])
def test_every_bundled_recipe_validates_and_builds(name):
    """Every shipped recipe is valid and its components exist with the given arguments."""
    from hypercli.models import create_model
    from hypercli.registry import REGULARIZERS, check_kwargs

    r = load_recipe(name)
    k, c, size = {"cifar10": (10, 3, 32), "cifar100": (100, 3, 32)}.get(r.data.name, (10, 1, 28))
    if r.task == "gan":  # its networks, not a classifier
        import torch

        from hypercli.gan import build_gan

        gan = build_gan(r.gan, c, size)
        assert gan.discriminator(gan.generator(torch.randn(2, gan.z_dim))).shape[0] == 2
    else:
        create_model(r, len(r.data.classes) if r.data.classes else k, c, size)
    for reg in r.regularizers:
        check_kwargs(REGULARIZERS.get(reg.name), reg.args, reg.name)


def test_base_recipes_merge(tmp_path):
    write(tmp_path, {"description": "parent", "optimizer": {"lr": 0.5, "momentum": 0.5},
                     "data": {"augment": ["crop", "flip"]}}, "parent.yaml")
    child = write(tmp_path, {"base": "parent.yaml", "optimizer": {"lr": 0.01},
                             "data": {"augment": ["flip"]}}, "child.yaml")
    r = load_recipe(child)
    assert r.name == "child" and r.description == ""
    assert (r.optimizer.lr, r.optimizer.momentum) == (0.01, 0.5)
    assert r.data.augment == ["flip"]  # lists are replaced, not merged
    bundled = write(tmp_path, {"base": "fmnist-quick", "train": {"epochs": 1}}, "b.yaml")
    assert load_recipe(bundled).model.name == load_recipe("fmnist-quick").model.name
    write(tmp_path, {"base": "loop2.yaml"}, "loop1.yaml")
    write(tmp_path, {"base": "loop1.yaml"}, "loop2.yaml")
    with pytest.raises(HyperError, match="cycle"):
        load_recipe(tmp_path / "loop1.yaml")


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_recipes_validate_and_build(name):
    import torch

    from hypercli.models import create_model
    recipe = load_recipe(name)
    assert recipe.data.name == "folder" and recipe.data.image_size == 224
    assert "random-resized-crop" in recipe.data.augment
    torch.manual_seed(0)
    net = create_model(recipe, 10, 3, 64)  # the recipe's network at a small size
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("name", FACES)
def test_face_recipes_validate_and_build(name):
    """Face recipes: the authors' / insightface's solver settings, and the network at width 4
    on its face geometry gives 512-d embeddings and one logit per identity."""
    import torch

    from hypercli.models import create_model
    recipe = load_recipe(name, overrides=["model.args.width=4"])
    assert recipe.data.name in ("list", "recordio") and "flip" in recipe.data.augment
    assert recipe.data.expects and recipe.eval.verify
    insightface_crop = recipe.model.name.startswith("iresnet") or \
        recipe.model.args.get("crop") == "insightface"
    hw = (112, 112) if insightface_crop else (112, 96)
    torch.manual_seed(0)
    net = create_model(recipe, 10, 3, hw).eval()
    x = torch.rand(2, 3, *hw)
    assert net.features(x).shape == (2, 512)
    assert net(x).shape == (2, 10)


def test_face_recipe_without_data_says_what_it_needs():
    from hypercli.data import build_data

    recipe = load_recipe("arcface-r50-ms1m")
    with pytest.raises(HyperError, match=r"data.root is not set: this recipe needs insightface's "
                                         r"MS1MV3 .*train.rec"):
        build_data(recipe.data)
    casia = load_recipe("sphereface20-casia", overrides=["data.root=/nonexistent/casia"])
    with pytest.raises(HyperError, match=r"data.root /nonexistent/casia does not exist: .*"
                                         r"CASIA-WebFace aligned to 112x96"):
        build_data(casia.data)
