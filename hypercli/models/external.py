"""``torchvision/<name>`` and ``timm/<name>``: other libraries' classifiers, on the hypersphere.

``model.name: torchvision/resnet18`` builds the torchvision classification model
(``torchvision.models.get_model``, random weights), drops its final classifier (the
recipe's margin head replaces it), adapts the stem to the data's channel count and
converts every ``nn.Conv2d`` / ``nn.Linear`` to the recipe's ``model.conv`` /
``model.linear`` with ``hypercli.nn.convert``. ``timm/<name>`` does the same through
``timm.create_model`` when the ``timm`` package is installed (it is no dependency).

``model.args``:
    weights: torchvision's weight name (``DEFAULT``, ``IMAGENET1K_V1``) or, for timm, true:
        load pretrained weights before the conversion. torchvision fetches the file on
        first use (online) or finds it in its cache (``torch.hub.get_dir()/checkpoints``);
        it is read with ``torch.load(weights_only=True)``. Nothing is fetched without it.
    input_size: resize the images to this many pixels inside the model first, for
        networks that cannot run on small images (VGG and AlexNet pool 28 px to nothing;
        ViT needs its training size).
    any other key: passed to the library's constructor (``dropout``, ``width_mult``...).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypercli.errors import HyperError
from hypercli.nn.convert import convert
from hypercli.registry import MODELS


class Resize(nn.Module):
    """Bilinear resize of (B, C, H, W) to (B, C, size, size), for networks that need a
    minimum input size; images already at ``size`` pass unchanged."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] == (self.size, self.size):
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                             align_corners=False, antialias=x.shape[-1] > self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear] | None:
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)
             and not n.endswith("out_proj")]
    return found[-1] if found else None


def strip_classifier(model: nn.Module, name: str) -> int:
    """Replace the final classifier of a torchvision model by ``nn.Identity``; returns the
    feature width it took. The classifier is the last ``nn.Linear`` in module order (``fc``,
    ``classifier[-1]``, ``heads.head``, ``head``); SqueezeNet's 1x1-conv classifier becomes
    global average pooling."""
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and not any(
            isinstance(m, nn.Linear) for m in classifier.modules()):  # SqueezeNet
        convs = [m for m in classifier.modules() if isinstance(m, nn.Conv2d)]
        if len(convs) == 1:
            model.classifier = nn.AdaptiveAvgPool2d(1)  # type: ignore[assignment]
            return convs[0].in_channels
    found = _last_linear(model)
    if found is None:
        raise HyperError(f"torchvision/{name}: no final nn.Linear classifier to replace by "
                         "the recipe's head")
    path, layer = found
    parent = model.get_submodule(path.rpartition(".")[0]) if "." in path else model
    setattr(parent, path.rpartition(".")[2], nn.Identity())
    return layer.in_features


def adapt_stem(model: nn.Module, in_channels: int) -> None:
    """Give the first convolution ``in_channels`` inputs (3 in the library's models).

    The pretrained filters are kept by the convention of timm's ``adapt_input_conv``: for
    one channel the RGB filters are summed (a gray image through the summed filter equals
    the RGB image with three equal channels through the original one); otherwise the RGB
    filters repeat cyclically, scaled by 3 / in_channels.
    """
    found = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if found is None or found[1].in_channels == in_channels:
        return
    path, old = found
    if old.groups != 1:
        raise HyperError(f"the first convolution {path!r} is grouped; it cannot take "
                         f"{in_channels}-channel images")
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                    old.dilation, 1, old.bias is not None, old.padding_mode)
    with torch.no_grad():
        w = old.weight
        if in_channels == 1:
            new.weight.copy_(w.sum(1, keepdim=True))
        else:
            reps = -(-in_channels // w.shape[1])
            new.weight.copy_(w.repeat(1, reps, 1, 1)[:, :in_channels] * (w.shape[1] / in_channels))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    parent = model.get_submodule(path.rpartition(".")[0]) if "." in path else model
    setattr(parent, path.rpartition(".")[2], new)


def convert_checked(body: nn.Module, conv: Callable[..., nn.Module],
                    linear: Callable[..., nn.Module], in_channels: int, image_size: int,
                    what: str) -> nn.Module:
    """``convert`` with one image through the result: a network that cannot run on the
    data's image size says so now, with the fix, rather than in the first training step;
    layers whose parent bypasses their forward stay plain (``convert(example=...)``)."""
    x = torch.rand(1, in_channels, image_size, image_size)
    seen: dict[str, torch.Tensor] = {}
    hook = body.register_forward_hook(lambda m, i, o: seen.update(out=o))
    try:
        body = convert(body, conv=conv, linear=linear, example=x)
        if "out" not in seen:  # nothing to convert: convert ran no example
            was = body.training
            body.eval()
            with torch.no_grad():
                body(x)
            body.train(was)
    except (RuntimeError, ValueError, AssertionError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise HyperError(f"{what} cannot run on {image_size}px images ({first}); set "
                         "model.args.input_size (e.g. 224) to resize them inside the model"
                         ) from None
    finally:
        hook.remove()
    out = seen["out"]
    if out.dim() != 2:
        raise HyperError(f"{what}: its features have shape {tuple(out.shape)}, expected (B, D)")
    return body


def _torchvision_weights(name: str, weights: str) -> Any:
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        known = ", ".join(["DEFAULT", *enum.__members__])
        raise HyperError(f"torchvision/{name}: model.args.weights {weights!r} is unknown; "
                         f"choose one of: {known}") from None


def load_torchvision_weights(model: nn.Module, name: str, weights: str) -> None:
    """Load torchvision's pretrained ``weights`` into ``model`` (built without them), read
    with ``weights_only=True``. Auxiliary classifiers (GoogLeNet, Inception) are dropped."""
    from torch.hub import get_dir, load_state_dict_from_url

    w = _torchvision_weights(name, weights)
    file = f"{get_dir()}/checkpoints/{w.url.rsplit('/', 1)[-1]}"
    try:
        state = load_state_dict_from_url(w.url, progress=False, check_hash=True,
                                         weights_only=True)
    except Exception as exc:  # noqa: BLE001  (offline, proxy, hash, unpickling: one message)
        raise HyperError(
            f"torchvision/{name}: could not load the {weights} weights ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); torchvision downloads "
            f"{w.url} on first use, which needs the internet, or put that file at {file}"
        ) from None
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own or not k.startswith(("aux", "Aux"))}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise HyperError(f"torchvision/{name}: the {weights} weights do not fit the model "
                         f"({str(exc).splitlines()[1].strip() if ':' in str(exc) else exc}); "
                         "pass the constructor arguments those weights need in model.args"
                         ) from None


def torchvision_body(name: str, in_channels: int, image_size: int,
                     conv: Callable[..., nn.Module], linear: Callable[..., nn.Module],
                     batchnorm: bool = True, weights: str | None = None,
                     input_size: int | None = None, **kwargs: Any) -> tuple[nn.Module, int]:
    """The torchvision classifier ``name`` without its classifier, converted to the
    recipe's operators; returns (body (B, C, H, W) -> (B, D), D)."""
    import torchvision.models as tvm

    if not batchnorm:
        raise HyperError(f"torchvision/{name}: model.batchnorm: false is not supported; the "
                         "network's normalization layers are part of its architecture")
    if name in ("googlenet", "inception_v3") and weights is None:
        kwargs.setdefault("aux_logits", False)  # one output in training mode too
        kwargs.setdefault("init_weights", True)
    model = tvm.get_model(name, weights=None, **kwargs)
    if weights is not None:
        load_torchvision_weights(model, name, str(weights))
    width = strip_classifier(model, name)
    adapt_stem(model, in_channels)
    body: nn.Module = model if input_size is None else nn.Sequential(Resize(input_size), model)
    return convert_checked(body, conv, linear, in_channels, image_size,
                           f"torchvision/{name}"), width


def timm_body(name: str, in_channels: int, image_size: int,
              conv: Callable[..., nn.Module], linear: Callable[..., nn.Module],
              batchnorm: bool = True, weights: bool = False, input_size: int | None = None,
              **kwargs: Any) -> tuple[nn.Module, int]:
    """The timm model ``name`` with ``num_classes=0`` (pooled features), converted."""
    try:
        import timm
    except ImportError:
        raise HyperError(f"timm/{name} needs the timm package: pip install timm") from None
    if not batchnorm:
        raise HyperError(f"timm/{name}: model.batchnorm: false is not supported")
    try:
        model = timm.create_model(name, pretrained=bool(weights), num_classes=0,
                                  in_chans=in_channels, **kwargs)
    except RuntimeError as exc:
        raise HyperError(f"timm/{name}: {str(exc).splitlines()[0]}"
                         + ("; pretrained weights need the internet or timm's cache"
                            if weights else "")) from None
    width = int(model.num_features)
    body: nn.Module = model if input_size is None else nn.Sequential(Resize(input_size), model)
    return convert_checked(body, conv, linear, in_channels, image_size, f"timm/{name}"), width


def _resolve_torchvision(name: str) -> Callable[..., tuple[nn.Module, int]]:
    import torchvision.models as tvm

    known = tvm.list_models(module=tvm)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise HyperError(f"unknown torchvision classification model {name!r}{hint}; "
                         f"known: {', '.join(known)}")
    return functools.partial(torchvision_body, name)


def _resolve_timm(name: str) -> Callable[..., tuple[nn.Module, int]]:
    try:
        import timm
    except ImportError:
        raise HyperError(f"timm/{name} needs the timm package: pip install timm") from None
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise HyperError(f"unknown timm model {name!r}{hint}; see timm.list_models()")
    return functools.partial(timm_body, name)


MODELS.register_family(
    "torchvision/", _resolve_torchvision,
    "any torchvision classification model (resnet18, mobilenet_v3_small, vit_b_16, ...), "
    "converted to model.conv / model.linear; model.args.weights loads pretrained weights")
MODELS.register_family(
    "timm/", _resolve_timm,
    "any timm model, converted the same way (needs `pip install timm`; model.args.weights: true)")
