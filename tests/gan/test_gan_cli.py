"""The commands on a GAN run: samples and discriminator layers drawn, clear one-line errors
where a classifier is needed or the recipe is wrong; ``load_generator`` and ``sample``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from hypercli.cli.main import app
from hypercli.gan import load_generator, sample
from hypercli.gan.sampling import grid_image
from tests.cli.test_cli_bad_input import one_line_error
from tests.gan.conftest import gan_tree

runner = CliRunner()


def test_load_generator_and_sample(gan_run):
    run, _ = gan_run
    g, z_dim, shape, recipe = load_generator(run, "cpu")
    assert (z_dim, shape, recipe.task) == (8, (1, 16, 16), "gan") and not g.training
    x = sample(g, 10, seed=3, batch_size=4)
    assert x.shape == (10, 1, 16, 16) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.std()) > 0
    assert torch.allclose(x, sample(g, 10, seed=3, batch_size=10), atol=1e-6)  # batch-free
    assert not torch.allclose(x, sample(g, 10, seed=4))
    # the run's fixed codes (its seed): the last epoch's grid, pixel for pixel
    grid = grid_image(sample(g, recipe.gan.grid_samples, seed=recipe.seed)).numpy()[..., 0]
    assert np.array_equal(grid, np.asarray(Image.open(run / "samples" / "epoch-002.png")))


def test_visualize_features_draws_samples_and_discriminator_layers(gan_run, tmp_path):
    run, _ = gan_run
    res = runner.invoke(app, ["visualize-features", "-c", str(run), "--n", "9", "--json",
                              "--out", str(tmp_path / "s.png")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["view"] == "samples" and out["models"][0]["n"] == 9
    assert out["models"][0]["image_shape"] == [1, 16, 16]
    assert Image.open(tmp_path / "s.png").size[0] > 100
    res = runner.invoke(app, ["visualize-features", "-c", str(run), "--layers", "all", "--json",
                              "--out", str(tmp_path / "l.png")])
    assert res.exit_code == 0, res.output
    layers = json.loads(res.stdout)["models"][0]
    assert layers["label"] == "tiny-gan (discriminator)"
    assert [s["layer"] for s in layers["layers"]] == [f"convs.{i}" for i in range(5)]
    assert [s["filters"] for s in layers["layers"]] == [4, 4, 8, 8, 16]
    assert (tmp_path / "l.png").is_file()


def test_eval_scores_a_gan_over_a_named_classifier(gan_run, tmp_path):
    from hypercli.engine import train
    from hypercli.gan.sampling import load_gan
    from hypercli.gan.scores import gan_scores, load_feature_network
    from hypercli.recipe import build_recipe
    from tests.conftest import tiny_tree

    run, _ = gan_run
    one_line_error(["eval", "--checkpoint", str(run)], "no feature network", "--features")
    clf = tmp_path / "clf"  # a classifier of the same synthetic 16 px gray images
    train(build_recipe(tiny_tree(train={"epochs": 1, "device": "cpu"})), out_dir=clf,
          progress=False)
    res = runner.invoke(app, ["eval", "--checkpoint", str(run), "--features",
                              f"checkpoint:{clf}", "--samples", "64", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["labels"]["fid"] == "FID (tiny features)" and out["n_fake"] == 64
    # the generator's samples (seed 0) against the first 64 test images, scored directly
    from hypercli.data import build_data

    gan, recipe = load_gan(run)
    real = build_data(recipe.data, recipe.seed).test.images[:64]
    ref = gan_scores(sample(gan.generator, 64, seed=0), real,
                     load_feature_network(f"checkpoint:{clf}"), seed=0)
    for key in ("fid", "is", "kid"):
        assert out[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-9)
    assert set(out["d_energies"]) >= {f"convs.{i}" for i in range(5)}
    res = runner.invoke(app, ["eval", "--checkpoint", str(run), "--features",
                              f"checkpoint:{clf}", "--samples", "64"])
    assert res.exit_code == 0 and "FID (tiny features)" in res.output


def test_attack_on_a_gan_is_a_one_line_error(gan_run):
    run, _ = gan_run
    one_line_error(["attack", "--checkpoint", str(run), "--eps", "8"], "'gan' run",
                   "not a classifier")


@pytest.mark.parametrize("change, words", [
    ({"task": "classify"}, ["a gan section applies to task gan only", "'classify'"]),
    ({"task": "gann"}, ["task: unknown kind of run 'gann'", "did you mean 'gan'"]),
    ({"gan": {"generator": "dcgan"}}, ["unknown generator 'dcgan'", "sngan-cnn"]),
    ({"gan": {"discriminator_args": {"width": 3}}}, ["takes no argument 'width'",
                                                     "gan.discriminator_args"]),
    ({"gan": {"loss": "wgan"}}, ["unknown GAN loss 'wgan'", "hinge, nonsaturating"]),
    ({"gan": {"n_dis": 0}}, ["gan.n_dis"]),
    ({"gan": {"generator_args": {"z_dim": 3}}}, ["gan.generator_args.z_dim", "gan.z_dim"]),
])
def test_bad_gan_recipes_are_one_line_errors(tmp_path, change, words):
    tree = gan_tree(train={"epochs": 0.25, "device": "cpu"})
    for key, value in change.items():
        tree[key] = {**tree[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tree))
    one_line_error(["train", "--recipe", str(path), "--out", str(tmp_path / "run")], *words)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_train_prints_the_gan_losses(tmp_path):
    path = tmp_path / "gan.yaml"
    path.write_text(yaml.safe_dump(gan_tree(train={"epochs": 1, "device": "cpu"})))
    res = runner.invoke(app, ["train", "--recipe", str(path), "--out", str(tmp_path / "run"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "D loss" in text and "G loss" in text and "samples/epoch-001.png" in text
