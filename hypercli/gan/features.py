"""The feature network of the GAN scores: a hyper classifier checkpoint or Inception-v3.

FID, IS and KID are only as meaningful as the network whose features and class
probabilities they compare. The published figures use Inception-v3 (the TensorFlow
2015-12-05 graph, "FID Inception"); its weights cannot always be downloaded, so the
network is chosen explicitly (``load_feature_network``) and its ``name`` goes into every
report: a score over another network's features is a different number and says so.

Specs:

- ``checkpoint:PATH``: a hyper classifier (a ``checkpoint.pt`` or its run folder). Features
  are ``Net.features`` (the penultimate embedding, (B, D)), logits the head's inference
  logits (B, K); its images are the recipe's (channels and size of its data).
- ``inception:PATH``: Inception-v3 weights the user provides, told apart by their keys:
  the FID Inception of torch-fidelity / pytorch-fid (``pt_inception-2015-12-05-*.pth``,
  1008 classes; needs ``torch-fidelity``) or torchvision's ``inception_v3`` weights
  (``inception_v3_google-*.pth``, 1000 classes). Features: the 2048-d pool; logits: the
  classifier (FID Inception: without its bias, as torch-fidelity's Inception Score does).
  RGB images of any size, resized to 299 x 299 inside.
- ``inception`` with ``online=True``: the same weights downloaded (the FID Inception when
  torch-fidelity is installed, else torchvision's). Nothing is downloaded otherwise.

Files are read with ``torch.load(weights_only=True)``: loading never runs code.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.errors import HyperError

INCEPTION_SIZE = 299  # the input size of Inception-v3
TORCHVISION_INCEPTION = "Inception-v3 (torchvision weights)"
FID_INCEPTION = "Inception-v3 (FID weights 2015-12-05, torch-fidelity)"
_CLASSIFY = "classify"  # the recipe task whose checkpoints are classifiers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


class FeatureNetwork(nn.Module):
    """A feature and logit network for the GAN scores, always in eval mode.

    ``features(x)``: (B, D) float; ``logits(x)``: (B, K) float; ``x``: (B, C, H, W) float
    images in [0, 1] with ``C == in_channels`` and ``H == W == image_size`` (``image_size``
    None: any size). ``name`` says which network it is, for the reports.
    """

    name: str
    in_channels: int
    image_size: int | None
    num_features: int  # D (torchmetrics reads it instead of probing with a dummy image)
    num_classes: int  # K
    fix_hint: str = ""  # what to do when images do not fit

    def train(self, mode: bool = True) -> FeatureNetwork:
        return super().train(False)  # batch norm statistics must never move

    def check_images(self, shape: tuple[int, ...] | torch.Size, what: str = "images") -> None:
        """Raise ``HyperError`` unless ``shape`` is (B, C, H, W) images this network takes."""
        shape = tuple(shape)
        if len(shape) != 4:
            raise HyperError(f"{what} must be (N, C, H, W) image batches; got shape {shape}")
        c, h, w = shape[1:]
        size = self.image_size
        if c != self.in_channels or (size is not None and (h, w) != (size, size)):
            want = f"{self.in_channels} x {size} x {size}" if size is not None \
                else f"{self.in_channels} x H x W"
            raise HyperError(f"{what} are {c} x {h} x {w} (channels x height x width) but the "
                             f"feature network {self.name!r} takes {want}; {self.fix_hint}")

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features(x), logits(x))`` from one forward pass."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of images (B, C, H, W) in [0, 1]."""
        return self.features_and_logits(x)[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) of images (B, C, H, W) in [0, 1]."""
        return self.features_and_logits(x)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class ClassifierFeatures(FeatureNetwork):
    """A hyper classifier (``hypercli.models.Net``): its embedding and its logits."""

    def __init__(self, model: nn.Module, name: str, in_channels: int, image_size: int,
                 num_classes: int) -> None:
        super().__init__()
        self.model = model.eval()
        self.name, self.in_channels, self.image_size = name, in_channels, image_size
        self.num_features, self.num_classes = int(model.feature_dim), num_classes
        self.fix_hint = ("generate images like the classifier's training data, or train the "
                         "feature classifier on the same data as the GAN")

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_images(x.shape)
        f = self.model.features(x)
        return f, self.model.head.logits(f)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)


class TorchvisionInception(FeatureNetwork):
    """torchvision's Inception-v3 (ImageNet, 1000 classes): the 2048-d pool and the logits.

    Images are resized to 299 x 299 (bilinear) and mapped to [-1, 1], the input of the
    Google weights (what torchvision's ``transform_input`` does to ImageNet-normalized
    images). Its FID is not comparable with figures computed with the FID Inception.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.head = model.fc
        model.fc = nn.Identity()  # the network then returns the pooled 2048-d features
        self.body = model.eval()
        self.name, self.in_channels, self.image_size = TORCHVISION_INCEPTION, 3, None
        self.num_features, self.num_classes = self.head.in_features, self.head.out_features
        self.fix_hint = ("Inception-v3 takes RGB images; repeat a gray channel "
                         "(x.expand(-1, 3, -1, -1)) or score with a classifier of this data")

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_images(x.shape)
        f = self.body(_resize(x.float(), INCEPTION_SIZE) * 2 - 1)
        return f, self.head(f)


class FidelityInception(FeatureNetwork):
    """The FID Inception of torch-fidelity (TensorFlow's 2015-12-05 graph, 1008 classes):
    the 2048-d pool and the unbiased logits (what torch-fidelity's Inception Score uses).

    Images are quantized to uint8 (x * 255, rounded), as the extractor requires; it resizes
    them to 299 x 299 the way TensorFlow 1 did.
    """

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor.eval()
        self.name, self.in_channels, self.image_size = FID_INCEPTION, 3, None
        self.num_features, self.num_classes = 2048, 1008
        self.fix_hint = ("Inception-v3 takes RGB images; repeat a gray channel "
                         "(x.expand(-1, 3, -1, -1)) or score with a classifier of this data")

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_images(x.shape)
        q = (x.float() * 255).round().clamp(0, 255).to(torch.uint8)
        f, logits = self.extractor(q)
        return f, logits


def load_feature_network(spec: str, device: str | torch.device = "cpu",
                         online: bool = False) -> FeatureNetwork:
    """The feature network named by ``spec``, in eval mode on ``device``.

    ``spec``: ``checkpoint:PATH`` (a hyper classifier checkpoint or run folder; ``name`` is
    ``"<recipe name> features"``), ``inception:PATH`` (Inception-v3 weights: torch-fidelity's
    FID Inception or torchvision's ``inception_v3``), or ``inception`` with ``online=True``
    (downloaded). ``device``: ``cpu``, ``cuda``, ``auto`` or a torch device.

    Raises ``HyperError`` (one line) for an unknown spec, a missing or unreadable file, a
    checkpoint that is no classifier (e.g. ``task: gan``), weights that are no Inception-v3,
    the FID Inception without torch-fidelity installed, and ``inception`` without ``online``.
    """
    dev = _device(device)
    kind, sep, rest = str(spec).partition(":")
    if kind == "checkpoint" and sep:
        if not rest:
            raise HyperError("feature network 'checkpoint:': name the checkpoint, "
                             "checkpoint:PATH (a classifier run folder or checkpoint.pt)")
        net: FeatureNetwork = _classifier(rest, dev)
    elif kind == "inception" and not rest:
        if not online:
            raise HyperError("feature network 'inception' needs its weights: "
                             "inception:PATH (pt_inception-2015-12-05-*.pth or torchvision's "
                             "inception_v3_google-*.pth), or online=True to download them")
        net = _inception_online()
    elif kind == "inception":
        net = _inception_file(rest)
    else:
        raise HyperError(f"unknown feature network {str(spec)!r}: use checkpoint:PATH (a hyper "
                         "classifier) or inception:PATH (Inception-v3 weights)")
    return net.to(dev).eval()


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, str) and device in ("auto", "cpu", "cuda"):
        from hypercli.engine.distributed import resolve_device

        return resolve_device(device)
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise HyperError(f"unknown device {device!r}; use cpu, cuda, auto or a torch device "
                         "such as cuda:1") from None


def _stored_task(path: Path) -> str | None:
    """The ``task`` of the recipe stored in a checkpoint file, when it can be read."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable: read_checkpoint has said why
        return None
    recipe = state.get("recipe") if isinstance(state, dict) else None
    if not isinstance(recipe, dict):
        return None
    task = recipe.get("task", _CLASSIFY)
    return task if isinstance(task, str) else None


def _not_classifier(path: Path, task: str) -> HyperError:
    return HyperError(f"{path} is a `task: {task}` checkpoint, not a classifier: the feature "
                      "network must be a classifier run (e.g. `hyper train --recipe "
                      "fmnist-quick`), checkpoint:PATH")


def _classifier(path: str, dev: torch.device) -> ClassifierFeatures:
    from hypercli.engine.checkpoint import checkpoint_file, load_checkpoint, read_checkpoint

    p = checkpoint_file(path)  # a missing file or an empty folder: one line
    try:
        state = read_checkpoint(p)
    except HyperError:
        task = _stored_task(p)
        if task is not None and task != _CLASSIFY:
            raise _not_classifier(p, task) from None
        raise
    task = state["recipe"].get("task", _CLASSIFY)
    if task != _CLASSIFY:
        raise _not_classifier(p, str(task))
    model, recipe = load_checkpoint(p, dev)
    if not (hasattr(model, "features") and hasattr(model, "head")):
        raise HyperError(f"{p}: its model has no features and head; not a hyper classifier")
    meta = state["data"]
    return ClassifierFeatures(model, f"{recipe.name} features", int(meta["in_channels"]),
                              int(meta["image_size"]), int(meta["num_classes"]))


def _read_weights(p: Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors read with ``weights_only=True``; else one-line errors."""
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise HyperError(f"Inception weights {str(p)!r} {what}; pass the .pth file, "
                         "inception:PATH")
    try:
        obj: Any = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise HyperError(f"{p} was refused: it holds objects that could run code "
                         f"({_first_line(exc)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError,
            TypeError, AttributeError) as exc:
        raise HyperError(f"{p} is not a readable weights file (truncated or corrupted?): "
                         f"{_first_line(exc)}") from None
    if isinstance(obj, dict) and obj.get("format") == "hyper-checkpoint":
        raise HyperError(f"{p} is a hyper checkpoint, not Inception weights; use "
                         f"checkpoint:{p}")
    if not (isinstance(obj, dict) and obj
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())):
        raise HyperError(f"{p} is no state dict of Inception-v3 weights (a name -> tensor "
                         "mapping); pass pt_inception-2015-12-05-*.pth or torchvision's "
                         "inception_v3_google-*.pth")
    return obj


def _require_fit(model: nn.Module, sd: dict[str, torch.Tensor], p: Path) -> None:
    """Raise ``HyperError`` naming the tensors of ``sd`` that ``model`` lacks, misses or
    holds in another shape."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in sd and sd[k].shape != v.shape]
    problems = ([f"shape of {', '.join(shapes[:3])}"] if shapes else []) + \
        ([f"missing {', '.join(missing[:3])}"] if missing else []) + \
        ([f"unexpected {', '.join(unexpected[:3])}"] if unexpected else [])
    if problems:
        raise HyperError(f"{p}: the weights do not fit torchvision's Inception-v3 ("
                         + "; ".join(problems) + "); pass torchvision's inception_v3_google-*.pth")


def _inception_file(path: str) -> FeatureNetwork:
    p = Path(path)
    sd = _read_weights(p)
    fc = sd.get("fc.weight")
    if fc is None or "Conv2d_1a_3x3.conv.weight" not in sd:
        raise HyperError(f"{p} holds no Inception-v3 weights (no Conv2d_1a_3x3 and fc "
                         "tensors); pass pt_inception-2015-12-05-*.pth or torchvision's "
                         "inception_v3_google-*.pth")
    classes = tuple(fc.shape)
    if classes == (1008, 2048):  # TensorFlow's 2015-12-05 graph: the FID Inception
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import (
                FeatureExtractorInceptionV3,
            )
        except ImportError:
            raise HyperError(f"{p} is the FID Inception (1008 classes), which needs "
                             "torch-fidelity (pip install torch-fidelity); or pass "
                             "torchvision's inception_v3 weights") from None
        try:
            extractor = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"],
                feature_extractor_weights_path=str(p))
        except (RuntimeError, KeyError, ValueError) as exc:
            raise HyperError(f"{p}: the FID Inception did not take these weights: "
                             f"{_first_line(exc)}") from None
        return FidelityInception(extractor)
    if classes == (1000, 2048):  # torchvision's ImageNet Inception-v3
        from torchvision.models.inception import Inception3

        aux = any(k.startswith("AuxLogits.") for k in sd)
        with torch.device("meta"):  # no time spent initializing weights that are replaced
            model = Inception3(num_classes=1000, aux_logits=aux, transform_input=False,
                               init_weights=False)
        _require_fit(model, sd, p)
        model.load_state_dict(sd, assign=True)
        return TorchvisionInception(model)
    raise HyperError(f"{p}: its classifier fc.weight is {classes}, neither the FID Inception "
                     "(1008, 2048) nor torchvision's Inception-v3 (1000, 2048)")


def _inception_online() -> FeatureNetwork:  # pragma: no cover - needs the network
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        from torchvision.models import Inception_V3_Weights, inception_v3

        try:
            model = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1,
                                 transform_input=False)
        except OSError as exc:
            raise HyperError(f"could not download torchvision's Inception-v3 weights: "
                             f"{_first_line(exc)}; pass inception:PATH") from None
        return TorchvisionInception(model)
    try:
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    except OSError as exc:
        raise HyperError(f"could not download the FID Inception weights: {_first_line(exc)}; "
                         "pass inception:PATH") from None
    return FidelityInception(extractor)
