"""GAN scores: FID against its float64 closed form, IS against its definition, all three
against torchmetrics called directly on the same features, feature networks from a tiny
classifier checkpoint and from Inception-v3 weights, and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from hypercli.engine import train
from hypercli.engine.checkpoint import load_checkpoint
from hypercli.errors import HyperError
from hypercli.gan.features import FeatureNetwork
from hypercli.gan.scores import gan_scores, load_feature_network, score_label
from hypercli.recipe import build_recipe
from tests.conftest import tiny_tree

pytestmark = pytest.mark.filterwarnings(  # the reference metrics built below say so
    "ignore:Metric .* will save all extracted features")

IMAGE = 16  # the tiny classifier's images: 1 x 16 x 16, 4 classes


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    return msg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A classifier trained for 2 steps (64 images, batches of 32): its run folder."""
    tree = tiny_tree(name="tiny-gan-features",
                     data={"args": {"train_size": 64, "test_size": 32, "image_size": IMAGE,
                                    "num_classes": 4}},
                     train={"epochs": 1, "device": "cpu", "eval_every": 0})
    run = tmp_path_factory.mktemp("feature-run") / "run"
    summary = train(build_recipe(tree), out_dir=run, progress=False)
    assert summary["steps"] == 2
    return run


class Affine(FeatureNetwork):
    """features = scale * (x - 0.5) of (N, 1, 2, 2) images flattened (D = 4); logits =
    features @ mix (K = 3): a network whose outputs are known in closed form."""

    def __init__(self, scale: float, mix: np.ndarray) -> None:
        super().__init__()
        self.name, self.in_channels, self.image_size = "affine", 1, 2
        self.num_features, self.num_classes = 4, mix.shape[1]
        self.scale = scale
        self.register_buffer("mix", torch.tensor(mix, dtype=torch.float32))
        self.seen: list[torch.Tensor] = []

    def features_and_logits(self, x):
        self.seen.append(x)
        f = self.scale * (x.flatten(1) - 0.5)
        return f, f @ self.mix


def exact_gaussian(n: int, mu: np.ndarray, cov: np.ndarray, rng) -> np.ndarray:
    """n samples whose sample mean is exactly mu and sample covariance (ddof 1) exactly cov."""
    z = rng.standard_normal((n, len(mu)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return z @ np.linalg.cholesky(cov).T + mu


def as_images(f: np.ndarray, scale: float) -> torch.Tensor:
    x = torch.tensor(f / scale + 0.5, dtype=torch.float32).view(-1, 1, 2, 2)
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    return x


def test_fid_matches_the_float64_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    b = rng.standard_normal((4, 4))
    mu1, mu2 = np.array([0.3, -0.2, 0.1, 0.0]), np.array([-0.1, 0.4, 0.0, 0.2])
    s1, s2 = a @ a.T / 4 + 0.1 * np.eye(4), b @ b.T / 4 + 0.2 * np.eye(4)
    f1, f2 = exact_gaussian(3000, mu1, s1, rng), exact_gaussian(2000, mu2, s2, rng)
    scale = 2.2 * max(np.abs(f1).max(), np.abs(f2).max())
    net = Affine(scale, rng.standard_normal((4, 3)))
    got = gan_scores(as_images(f1, scale), as_images(f2, scale), net, metrics=("fid",),
                     batch_size=700)
    closed = (np.sum((mu1 - mu2) ** 2)
              + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))
    assert closed > 0.5
    assert got["fid"] == pytest.approx(closed, rel=1e-5)
    assert (got["n_fake"], got["n_real"], got["feature_network"]) == (3000, 2000, "affine")
    assert set(got) == {"fid", "feature_network", "n_fake", "n_real"}
    # the network saw every image once, as float32 in [0, 1], in batches of at most 700
    assert sum(len(x) for x in net.seen) == 5000 and max(len(x) for x in net.seen) == 700


def test_inception_score_matches_its_definition():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.random((500, 1, 2, 2)), dtype=torch.float32)
    mix = 1.5 * rng.standard_normal((4, 3))
    net = Affine(6.0, mix)
    got = gan_scores(x, None, net, metrics=("is",), is_splits=1)
    logits = 6.0 * (x.double().flatten(1).numpy() - 0.5) @ mix
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    py = p.mean(0)
    expected = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(py)), axis=1)))
    assert expected > 1.2
    assert got["is"] == pytest.approx(expected, rel=1e-5)
    assert got["is_std"] == 0.0 and got["n_real"] == 0


def test_images_reach_the_network_as_unit_floats_once_per_batch():
    net = Affine(1.0, np.ones((4, 2)))
    x = torch.randint(0, 256, (20, 1, 2, 2), dtype=torch.uint8)
    got = gan_scores(x, x, net, is_splits=2, kid_subsets=3, kid_subset_size=10)
    assert {"fid", "is", "is_std", "kid", "kid_std"} <= set(got)
    # uint8 became float32 / 255 (not torchmetrics' uint8), and the three metrics shared
    # one forward pass per batch: the fake batch, then the real one
    seen = torch.cat(net.seen)
    assert seen.dtype == torch.float32
    assert torch.equal(seen, torch.cat([x, x]).float() / 255)


class Identity(nn.Module):
    """What torchmetrics is given in the reference: the precomputed features themselves."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.num_features = d

    def forward(self, f):
        return f


def test_scores_agree_with_torchmetrics_on_the_same_features(tiny_run):
    net = load_feature_network(f"checkpoint:{tiny_run}")
    g = torch.Generator().manual_seed(0)
    fake = torch.rand(240, 1, IMAGE, IMAGE, generator=g)
    real = (torch.rand(180, 1, IMAGE, IMAGE, generator=g) ** 2 * 255).round().to(torch.uint8)
    kw = dict(is_splits=4, kid_subsets=7, kid_subset_size=50, seed=3)
    got = gan_scores(fake, real, net, batch_size=1000, **kw)

    with torch.no_grad():
        ff, fr = net.features(fake).double(), net.features(real.float() / 255).double()
        lf = net.logits(fake).double()
    fid = FrechetInceptionDistance(feature=Identity(ff.shape[1]))
    kid = KernelInceptionDistance(feature=Identity(ff.shape[1]), subsets=7, subset_size=50)
    inc = InceptionScore(feature=Identity(lf.shape[1]), splits=4)
    fid.update(ff, real=False)
    fid.update(fr, real=True)
    kid.update(ff, real=False)
    kid.update(fr, real=True)
    inc.update(lf)
    torch.manual_seed(3)
    is_mean, is_std = inc.compute()
    torch.manual_seed(3)
    kid_mean, kid_std = kid.compute()
    ref = {"fid": float(fid.compute()), "is": float(is_mean), "is_std": float(is_std),
           "kid": float(kid_mean), "kid_std": float(kid_std)}
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
    assert got["fid"] > 0 and got["kid_std"] > 0 and got["is_std"] > 0
    assert (got["n_fake"], got["n_real"], got["kid_subset_size"]) == (240, 180, 50)
    assert got["feature_network"] == "tiny-gan-features features"

    # batches in any iterable, (images, labels) pairs included, chunked to batch_size
    again = gan_scores((fake[i:i + 100] for i in range(0, 240, 100)),
                       [(real, torch.zeros(180))], net, batch_size=64, **kw)
    for key in ref:
        assert again[key] == pytest.approx(got[key], rel=1e-5, abs=1e-12), key

    # seeded: the same seed gives the same subsets, the global RNG is left alone
    state = torch.random.get_rng_state()
    other = gan_scores(fake, real, net, batch_size=1000, **{**kw, "seed": 4})
    assert torch.equal(torch.random.get_rng_state(), state)
    assert other["fid"] == got["fid"]
    assert other["kid"] != got["kid"] and other["is"] != got["is"]

    # fewer images than kid_subset_size: clamped to the smaller set, with a warning
    with pytest.warns(UserWarning, match="subsets of 180"):
        clamped = gan_scores(fake, real, net, metrics=("kid",), kid_subset_size=1000)
    assert clamped["kid_subset_size"] == 180 and set(clamped) == {
        "kid", "kid_std", "kid_subset_size", "feature_network", "n_fake", "n_real"}


def test_checkpoint_feature_network_is_the_classifier(tiny_run):
    net = load_feature_network(f"checkpoint:{tiny_run}")
    from_file = load_feature_network(f"checkpoint:{tiny_run / 'checkpoint.pt'}")
    model, recipe = load_checkpoint(tiny_run)
    assert net.name == from_file.name == f"{recipe.name} features"
    assert (net.in_channels, net.image_size, net.num_classes) == (1, IMAGE, 4)
    assert score_label("fid", net) == "FID (tiny-gan-features features)"
    x = torch.rand(5, 1, IMAGE, IMAGE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(net.features(x), model.features(x))
        assert torch.equal(net.logits(x), model(x))
    assert net.features(x).shape == (5, net.num_features)
    net.train()
    assert not net.training  # batch norm statistics never move


def test_images_the_network_does_not_take_are_one_line_errors(tiny_run):
    net = load_feature_network(f"checkpoint:{tiny_run}")
    ok = torch.rand(8, 1, IMAGE, IMAGE)
    for bad, shown in [(torch.rand(8, 3, IMAGE, IMAGE), "3 x 16 x 16"),
                       (torch.rand(8, 1, 8, 8), "1 x 8 x 8")]:
        with pytest.raises(HyperError) as exc:
            gan_scores(bad, ok, net)
        msg = one_line(exc)
        assert shown in msg and "1 x 16 x 16" in msg and "train the feature classifier" in msg
        with pytest.raises(HyperError) as exc:
            gan_scores(ok, bad, net)
        assert "real images" in one_line(exc)
    cases = [
        (dict(fake=ok * 2 - 1, real=ok), "[0, 1]"),  # a tanh output not mapped back
        (dict(fake=ok.double().long(), real=ok), "uint8"),
        (dict(fake=ok, real=None), "real"),
        (dict(fake=ok, real=ok, metrics=("fid", "lpips")), "lpips"),
        (dict(fake=ok[:1], real=ok), "at least 2"),
        (dict(fake=ok, real=ok, is_splits=10), "is_splits=10"),
        (dict(fake=ok, real=ok, kid_subset_size=1), "kid_subset_size"),
        (dict(fake=[ok, "not images"], real=ok), "str"),
    ]
    for kwargs, shown in cases:
        with pytest.raises(HyperError) as exc:
            gan_scores(net=net, **kwargs)
        assert shown in one_line(exc), (kwargs.keys(), shown)


def test_bad_feature_networks_are_one_line_errors(tiny_run, tmp_path):
    state = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    gan = tmp_path / "gan.pt"  # a whole checkpoint whose recipe is a GAN's
    torch.save({**state, "recipe": {**state["recipe"], "task": "gan"}}, gan)
    gan_only = tmp_path / "gan-only.pt"  # a GAN's own entries instead of a classifier's
    gan_state = {k: v for k, v in state.items() if k != "model"}
    torch.save({**gan_state, "recipe": {**state["recipe"], "task": "gan"},
                "generator": state["model"]}, gan_only)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 these are not the bytes of a checkpoint")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((tiny_run / "checkpoint.pt").read_bytes()[:3000])
    code = tmp_path / "code.pth"
    torch.save({"fc.weight": torch.zeros(2), "x": Identity(3)}, code)
    fid_inception = tmp_path / "pt_inception-2015-12-05-fake.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3),
                "fc.weight": torch.zeros(1008, 2048)}, fid_inception)
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)
    try:
        import torch_fidelity  # noqa: F401
        fidelity = "did not take these weights"
    except ImportError:
        fidelity = "torch-fidelity"
    cases = [
        ("resnet:x.pt", "unknown feature network"),
        (str(tiny_run), "unknown feature network"),
        ("checkpoint:", "checkpoint:PATH"),
        (f"checkpoint:{tmp_path / 'missing.pt'}", "does not exist"),
        (f"checkpoint:{tmp_path}", "without a checkpoint.pt"),
        (f"checkpoint:{gan}", "task: gan"),
        (f"checkpoint:{gan_only}", "task: gan"),
        (f"checkpoint:{corrupt}", "not a readable checkpoint"),
        (f"checkpoint:{truncated}", "not a readable checkpoint"),
        ("inception", "online=True"),
        (f"inception:{tmp_path / 'missing.pth'}", "does not exist"),
        (f"inception:{code}", "refused"),
        (f"inception:{corrupt}", "not a readable weights file"),
        (f"inception:{tiny_run / 'checkpoint.pt'}", "checkpoint:"),
        (f"inception:{other}", "no Inception-v3 weights"),
        (f"inception:{fid_inception}", fidelity),
    ]
    for spec, shown in cases:
        with pytest.raises(HyperError) as exc:
            load_feature_network(spec)
        assert shown in one_line(exc), (spec, str(exc.value))


def he_inception(transform_input: bool) -> nn.Module:
    """torchvision's Inception-v3 with He-normal weights (features that vary with the
    image; torchvision's own initialization makes them vanish) and identity batch norms."""
    from torchvision.models.inception import Inception3

    with torch.device("meta"):
        model = Inception3(num_classes=1000, aux_logits=True, transform_input=transform_input,
                           init_weights=False)
    model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                gain = 2.0 if isinstance(m, nn.Conv2d) else 1.0
                m.weight.normal_(0, math.sqrt(gain / m.weight[0].numel()), generator=g)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
                m.reset_running_stats()
    return model.eval()


def test_torchvision_inception_weights(tmp_path):
    ref = he_inception(transform_input=True)
    path = tmp_path / "inception_v3_google-test.pth"
    torch.save(ref.state_dict(), path)
    net = load_feature_network(f"inception:{path}")
    assert net.name == "Inception-v3 (torchvision weights)"
    assert (net.in_channels, net.image_size, net.num_features, net.num_classes) == \
        (3, None, 2048, 1000)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # torchvision's own pipeline: resize to 299, ImageNet normalization, transform_input
    big = nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False,
                                    antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        logits_ref = ref((big - mean) / std)
        f, logits = net.features_and_logits(x)
        assert f.shape == (1, 2048) and float(f.std()) > 0.05
        assert float(logits_ref.std()) > 1e-2  # far above the tolerance below
        torch.testing.assert_close(logits, logits_ref, rtol=0, atol=1e-5)
        torch.testing.assert_close(net.head(f), logits)
    with pytest.raises(HyperError) as exc:
        net.features(torch.rand(1, 1, 32, 32))
    assert "RGB" in one_line(exc)
    sd = ref.state_dict()
    torch.save({k: sd[k] for k in ("Conv2d_1a_3x3.conv.weight", "fc.weight")}
               | {"fc.bias": torch.zeros(3)}, path)
    with pytest.raises(HyperError) as exc:
        load_feature_network(f"inception:{path}")
    msg = one_line(exc)
    assert "fc.bias (3,) vs (1000,)" in msg and "missing Conv2d_1a_3x3.bn.weight" in msg
