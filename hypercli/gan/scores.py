"""GAN scores through torchmetrics: FID, Inception Score and KID over a chosen network.

The statistics are torchmetrics' own (``FrechetInceptionDistance``, ``InceptionScore``,
``KernelInceptionDistance``); what hyper adds is the feature network
(``hypercli.gan.features``: a hyper classifier checkpoint or Inception-v3), checked image
geometry and range, seeded subsets, and the network's name in every result, so that a
score over a classifier's features (``FID (fmnist-quick features)``) is never mistaken for
the Inception figure.

- FID: Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
  Nash Equilibrium", NeurIPS 2017: ``||mu_f - mu_r||^2 + Tr(S_f + S_r - 2 (S_f S_r)^(1/2))``
  of the Gaussians fitted to the fake and real features.
- IS: Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016:
  ``exp(E_x KL(p(y|x) || p(y)))`` of the network's class probabilities on the fake images,
  the mean and standard deviation over splits.
- KID: Binkowski et al., "Demystifying MMD GANs", ICLR 2018: the unbiased squared MMD with
  the cubic polynomial kernel ``(f.g / D + 1)^3``, mean and standard deviation over random
  subsets.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from hypercli.checks import require_unit_interval
from hypercli.errors import HyperError
from hypercli.gan.features import FeatureNetwork, load_feature_network

__all__ = ["METRICS", "FeatureNetwork", "gan_scores", "load_feature_network", "score_label"]

METRICS = ("fid", "is", "kid")
_LABELS = {"fid": "FID", "is": "IS", "kid": "KID"}

Images = torch.Tensor | Iterable[Any]


def score_label(metric: str, network: str | FeatureNetwork) -> str:
    """How a report names a score: ``score_label("fid", net)`` -> ``"FID (fmnist-quick
    features)"``."""
    name = network.name if isinstance(network, FeatureNetwork) else str(network)
    return f"{_LABELS.get(metric, metric.upper())} ({name})"


class _Shared:
    """The features and logits of the last batch: the network runs once per batch however
    many metrics ask (a plain object, so that no metric holds the network as a module)."""

    def __init__(self, net: FeatureNetwork) -> None:
        self.net = net
        self._x: torch.Tensor | None = None
        self._out: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x is not self._x or self._out is None:
            self._out = self.net.features_and_logits(x)
            self._x = x
        return self._out

    def clear(self) -> None:
        self._x = self._out = None


class _Output(nn.Module):
    """The ``feature=`` module torchmetrics calls: images (B, C, H, W) float in [0, 1] ->
    the network's features (``index`` 0) or logits (1), (B, D) in float64 (so that the
    means, covariances and kernels are accumulated in double precision)."""

    def __init__(self, shared: _Shared, index: int, num_features: int) -> None:
        super().__init__()
        self._shared = shared
        self.index = index
        self.num_features = num_features  # read by FrechetInceptionDistance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._shared(x)[self.index].double()


def _positive(value: Any, name: str, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise HyperError(f"{name} must be an integer >= {least}; got {value!r}")
    return value


def _metric_names(metrics: Iterable[str] | str) -> tuple[str, ...]:
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise HyperError(f"unknown GAN score {unknown[0]!r}; known: {', '.join(METRICS)}")
    if not names:
        raise HyperError(f"no GAN score asked for; choose from {', '.join(METRICS)}")
    return tuple(m for m in METRICS if m in names)


def _batches(images: Images, batch_size: int, what: str) -> Iterator[torch.Tensor]:
    """Chunks of at most ``batch_size`` images of a tensor or an iterable of batches (an
    ``(images, labels)`` pair counts as its images)."""
    if isinstance(images, torch.Tensor):
        source: Iterable[Any] = [images]
    elif isinstance(images, Iterable) and not isinstance(images, (str, bytes)):
        source = images
    else:
        raise HyperError(f"{what} must be an (N, C, H, W) image tensor or an iterable of "
                         f"such batches; got {type(images).__name__}")
    for batch in source:
        if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
            batch = batch[0]
        if not isinstance(batch, torch.Tensor):
            raise HyperError(f"{what}: each batch must be an (N, C, H, W) image tensor; got "
                             f"{type(batch).__name__}")
        for i in range(0, len(batch), batch_size):
            yield batch[i : i + batch_size]


def _as_unit_float(x: torch.Tensor, device: torch.device, what: str) -> torch.Tensor:
    """uint8 images / 255, or float images checked to lie in [0, 1], as float32 on ``device``."""
    if x.dtype == torch.uint8:
        return x.to(device).float().div_(255.0)
    if not x.is_floating_point():
        raise HyperError(f"{what} must be uint8 (0..255) or float in [0, 1]; got {x.dtype}")
    x = x.to(device).float()
    try:
        require_unit_interval(x, what)
    except HyperError as exc:
        raise HyperError(f"{exc}; a generator's tanh output x in [-1, 1] maps to "
                         "(x + 1) / 2") from None
    return x.clamp_(0.0, 1.0)  # the round-off the check allows


def _device_of(net: nn.Module) -> torch.device:
    for t in list(net.parameters()) + list(net.buffers()):
        return t.device
    return torch.device("cpu")


def gan_scores(fake: Images, real: Images | None, net: FeatureNetwork | str,
               metrics: Iterable[str] | str = METRICS, is_splits: int = 10,
               kid_subsets: int = 100, kid_subset_size: int = 1000, batch_size: int = 500,
               seed: int = 0) -> dict[str, Any]:
    """FID, Inception Score and KID of generated images, by torchmetrics over ``net``.

    ``fake``, ``real``: (N, C, H, W) images, uint8 (0..255) or float in [0, 1], or
    iterables of such batches (``(images, labels)`` pairs too), with the channels and size
    ``net`` takes (``net.in_channels``, ``net.image_size``). ``real`` is needed for FID and
    KID (IS scores the fake images alone; ``real`` may then be None). ``net``: a
    ``FeatureNetwork`` or its spec (``load_feature_network``). The network runs once per
    batch of ``batch_size`` images for all the metrics; FID and KID compare its features
    (B, D), IS its class probabilities ``softmax(logits)``.

    ``is_splits``: IS is the mean (and standard deviation) over the splits torchmetrics
    makes with ``torch.chunk`` of a random permutation (a count not divisible by the splits
    may give fewer). ``kid_subsets`` subsets of ``kid_subset_size`` images per set; with
    fewer images than ``kid_subset_size`` in either set, the subsets are clamped to the
    smaller set (a warning; ``kid_subset_size`` in the result says what was used). ``seed``
    seeds IS's permutation and KID's subsets (the global RNG is left as it was).

    Returns ``{"fid", "is", "is_std", "kid", "kid_std"}`` (those asked for, floats; FID and
    KID in squared feature units, IS in [1, K]; ``is_std`` is 0 with one split),
    ``"kid_subset_size"`` (with KID), ``"feature_network"`` (``net.name``), ``"n_fake"``,
    ``"n_real"`` (0 when only IS is asked).

    Raises ``HyperError`` (one line) for images whose channels or size are not the
    network's, images outside [0, 1], an unknown metric, bad counts, fewer than 2 images
    per set (FID, KID) or fewer fake images than ``is_splits``.
    """
    names = _metric_names(metrics)
    _positive(is_splits, "is_splits")
    _positive(kid_subsets, "kid_subsets")
    _positive(kid_subset_size, "kid_subset_size", 2)
    _positive(batch_size, "batch_size")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HyperError(f"seed must be an integer >= 0; got {seed!r}")
    if isinstance(net, str):
        net = load_feature_network(net)
    if not isinstance(net, FeatureNetwork):
        raise HyperError("net must be a FeatureNetwork (hypercli.gan.scores."
                         f"load_feature_network); got {type(net).__name__}")
    needs_real = "fid" in names or "kid" in names
    if needs_real and real is None:
        raise HyperError("FID and KID compare with real images; pass real=..., or "
                         "metrics=('is',) to score the fake images alone")

    # from the modules: torchmetrics.image exports them only when torch-fidelity (their
    # default Inception) is installed, and a custom feature network needs none of it
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    net.eval()
    dev = _device_of(net)
    shared = _Shared(net)
    feats = _Output(shared, 0, net.num_features)
    logits = _Output(shared, 1, net.num_classes)
    # normalize=False everywhere: the images reach ``feature`` as they are given, float in
    # [0, 1] (normalize=True makes InceptionScore turn them into uint8 even for a custom
    # network)
    fid = kid = inception = None
    with warnings.catch_warnings():  # IS, KID: "will save all extracted features in buffer"
        warnings.filterwarnings("ignore", "Metric .* will save all extracted features")
        if "fid" in names:
            fid = FrechetInceptionDistance(feature=feats, normalize=False)
        if "kid" in names:
            kid = KernelInceptionDistance(feature=feats, subsets=kid_subsets,
                                          subset_size=kid_subset_size, normalize=False)
        if "is" in names:
            inception = InceptionScore(feature=logits, splits=is_splits, normalize=False)
    for metric in (fid, kid, inception):
        if metric is not None:
            metric.to(dev)

    def stream(images: Images, is_real: bool, what: str) -> int:
        n = 0
        with torch.no_grad():
            for chunk in _batches(images, batch_size, what):
                net.check_images(chunk.shape, what)
                x = _as_unit_float(chunk, dev, what)
                if fid is not None:
                    fid.update(x, real=is_real)
                if kid is not None:
                    kid.update(x, real=is_real)
                if inception is not None and not is_real:
                    inception.update(x)
                n += len(x)
        shared.clear()
        return n

    n_fake = stream(fake, False, "fake images")
    n_real = stream(real, True, "real images") if needs_real else 0
    if n_fake == 0:
        raise HyperError("no fake images to score")
    if needs_real and min(n_fake, n_real) < 2:
        raise HyperError(f"FID and KID need at least 2 images per set; got {n_fake} fake, "
                         f"{n_real} real")
    if inception is not None and n_fake < is_splits:
        raise HyperError(f"the Inception Score splits {n_fake} fake images into "
                         f"is_splits={is_splits}: give at least {is_splits} images or fewer "
                         "splits")

    out: dict[str, Any] = {}
    if fid is not None:
        out["fid"] = float(fid.compute())
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws from the global RNG
        if inception is not None:
            torch.default_generator.manual_seed(seed)  # the CPU generator randperm draws from
            with warnings.catch_warnings():  # one split: its std is NaN, reported as 0
                warnings.filterwarnings("ignore", r"std\(\): degrees of freedom")
                mean, std = inception.compute()
            out["is"], out["is_std"] = float(mean), (float(std) if is_splits > 1 else 0.0)
        if kid is not None:
            size = min(kid_subset_size, n_fake, n_real)
            if size < kid_subset_size:
                warnings.warn(f"KID: {n_fake} fake and {n_real} real images, fewer than "
                              f"kid_subset_size={kid_subset_size}; subsets of {size} are used",
                              stacklevel=2)
            kid.subset_size = size
            torch.default_generator.manual_seed(seed)  # the CPU generator randperm draws from
            mean, std = kid.compute()
            out["kid"], out["kid_std"] = float(mean), float(std)
            out["kid_subset_size"] = size
    out.update({"feature_network": net.name, "n_fake": n_fake, "n_real": n_real})
    return out
