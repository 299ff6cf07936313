"""``convert``: put any network on the hypersphere by swapping its nn.Conv2d / nn.Linear layers.

The counterpart of ``nn.SyncBatchNorm.convert_sync_batchnorm`` for the operators of this
package: every plain ``nn.Conv2d`` becomes the chosen convolution operator (SphereConv,
a decoupled operator, ...) and every plain ``nn.Linear`` the chosen linear operator, with
the same geometry (in/out channels, kernel size, stride, padding, dilation, groups,
padding mode, bias) and the layer's weights copied in, so a pretrained network keeps its
filter directions (the angles SphereConv sees)::

    import torchvision
    from hypercli.nn import convert

    net = convert(torchvision.models.resnet18(), conv="sphere", conv_args={"angle": "linear"})

The MHE and orthogonality regularizers find the converted layers by type
(``hypercli.mhe.energy.layer_weights``, ``hypercli.nn.layers.select_layers``), so they
attach to any converted model.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.nn.angular import AngularMixin
from hypercli.registry import CONVS, LINEARS, check_kwargs

Operator = str | Callable[..., nn.Module] | None


def _factory(registry, op: Operator, args: dict[str, Any] | None,
             plain: type) -> Callable[..., nn.Module] | None:
    """The operator factory for ``op`` (a registered name, a class or a callable), or None
    when layers stay as they are (``op`` None, or the plain torch layer without arguments)."""
    args = dict(args or {})
    if op is None:
        if args:
            raise HyperError(f"{registry.kind} arguments {sorted(args)} given without an operator")
        return None
    if isinstance(op, str):
        op = registry.get(op)
    if op is plain and not args:
        return None
    if args:
        check_kwargs(op, args, f"{registry.kind} {getattr(op, '__name__', op)!r}")
        op = functools.partial(op, **args)
    return op


def _is_convertible(module: nn.Module, plain: type, name: str) -> bool:
    """True for a plain ``plain`` layer; False for operators already converted; an error for
    other subclasses that override ``forward`` (their own computation would be lost)."""
    if type(module) is plain:
        return True
    if isinstance(module, AngularMixin) or not isinstance(module, plain):
        return False
    if type(module).forward is plain.forward:  # a subclass that only adds attributes
        return True
    raise HyperError(
        f"convert: layer {name or '(the model)'!r} is a {type(module).__name__}, a "
        f"{plain.__name__} with its own forward; converting it would drop that computation. "
        "Leave it out with skip=[...] or replace it by a plain layer first")


def _copy(new: nn.Module, old: nn.Module, name: str) -> None:
    with torch.no_grad():
        for pname in ("weight", "bias"):
            src, dst = getattr(old, pname, None), getattr(new, pname, None)
            if src is None and dst is None:
                continue
            if src is None or dst is None or src.shape != dst.shape:
                raise HyperError(
                    f"convert: layer {name!r}: the operator's {pname} has shape "
                    f"{None if dst is None else tuple(dst.shape)}, the layer's "
                    f"{None if src is None else tuple(src.shape)}; this operator cannot "
                    "represent the layer")
            dst.copy_(src)
    new.train(old.training)
    new.requires_grad_(old.weight.requires_grad)


def _new_conv(factory: Callable[..., nn.Module], old: nn.Conv2d, name: str) -> nn.Module:
    try:
        new = factory(old.in_channels, old.out_channels, old.kernel_size, stride=old.stride,
                      padding=old.padding, dilation=old.dilation, groups=old.groups,
                      bias=old.bias is not None, padding_mode=old.padding_mode)
    except (TypeError, ValueError) as exc:
        raise HyperError(f"convert: the conv operator cannot represent layer {name!r} "
                         f"({old}): {exc}") from None
    got = tuple(getattr(new, a, None) for a in ("kernel_size", "stride", "padding", "dilation",
                                                "groups", "padding_mode"))
    want = (old.kernel_size, old.stride, old.padding, old.dilation, old.groups, old.padding_mode)
    if got != want:
        raise HyperError(f"convert: the conv operator built {new} for layer {name!r} ({old}): "
                         "its geometry differs, so it cannot represent this layer")
    new = new.to(device=old.weight.device, dtype=old.weight.dtype)
    _copy(new, old, name)
    return new


def _new_linear(factory: Callable[..., nn.Module], old: nn.Linear, name: str) -> nn.Module:
    try:
        new = factory(old.in_features, old.out_features, bias=old.bias is not None)
    except (TypeError, ValueError) as exc:
        raise HyperError(f"convert: the linear operator cannot represent layer {name!r} "
                         f"({old}): {exc}") from None
    new = new.to(device=old.weight.device, dtype=old.weight.dtype)
    _copy(new, old, name)
    return new


def _functional_children(module: nn.Module) -> set[str]:
    """Children whose weights the parent uses directly, never calling their forward
    (``nn.MultiheadAttention.out_proj``): replacing them would change nothing."""
    return {"out_proj"} if isinstance(module, nn.MultiheadAttention) else set()


def convert(model: nn.Module, conv: Operator = None, linear: Operator = None,
            conv_args: dict[str, Any] | None = None, linear_args: dict[str, Any] | None = None,
            skip: Iterable[str] = (), example: torch.Tensor | None = None) -> nn.Module:
    """Replace every ``nn.Conv2d`` / ``nn.Linear`` of ``model`` by the given operators.

    Args:
        model: any module; converted in place (and returned). If ``model`` itself is a
            conv or linear layer, the new layer is returned.
        conv: the convolution operator: a name registered in ``CONVS`` (``sphere``,
            ``decoupled``, ``dc-tanh``, ...; ``hyper list``), a class or any callable with
            ``nn.Conv2d``'s signature; None (or ``conv``) leaves convolutions as they are.
        linear: the same for ``nn.Linear`` (names in ``LINEARS``: ``sphere``, ``decoupled``).
        conv_args, linear_args: keyword arguments of the operators (``{"angle": "linear"}``).
        skip: qualified module names (``"fc"``, ``"features.0.0"``) to leave as they are,
            with everything below them.
        example: an input batch; if given, the converted model runs on it once (no grad,
            eval mode) and every converted layer whose ``forward`` never ran is put back as
            it was, with a warning naming it: a parent that uses the layer's weight directly
            (Swin's attention calls ``F.linear(x, self.qkv.weight)``) would otherwise keep
            computing the plain operation with a converted layer that does nothing.

    Every geometry argument of each layer is kept (shapes, stride, padding, dilation,
    groups, padding mode, bias), its weight and bias are copied (the operators normalize
    the weight, so its direction is what counts), its training mode and ``requires_grad``
    kept; new parameters (SphereConv's learnable k, DCNet's radius) start at their
    initial values. Operators already on the hypersphere are left alone, so converting
    twice is a no-op. Only 2-d convolutions are converted (the operators are 2-d);
    ``nn.Conv1d/3d`` and transposed convolutions are left as they are, and so is
    ``nn.MultiheadAttention.out_proj``, whose weight the attention uses without calling
    the layer.

    Raises:
        HyperError: naming the layer, when an operator cannot represent it, or when a layer
            is a subclass of nn.Conv2d / nn.Linear with its own ``forward`` (skip it).
    """
    conv_f = _factory(CONVS, conv, conv_args, nn.Conv2d)
    linear_f = _factory(LINEARS, linear, linear_args, nn.Linear)
    skipped = set(skip)
    if conv_f is None and linear_f is None:
        return model

    replaced: list[tuple[nn.Module, str, nn.Module, nn.Module, str]] = []

    def walk(module: nn.Module, name: str, functional: bool) -> nn.Module:
        if name in skipped or functional:
            return module
        if conv_f is not None and _is_convertible(module, nn.Conv2d, name):
            return _new_conv(conv_f, module, name)  # type: ignore[arg-type]
        if linear_f is not None and _is_convertible(module, nn.Linear, name):
            return _new_linear(linear_f, module, name)  # type: ignore[arg-type]
        inner = _functional_children(module)
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            new = walk(child, full, child_name in inner)
            if new is not child:
                setattr(module, child_name, new)
                replaced.append((module, child_name, child, new, full))
        return module

    out = walk(model, "", False)
    if example is not None and replaced:
        _restore_unused(out, replaced, example)
    return out


def _restore_unused(model: nn.Module, replaced: list, example: torch.Tensor) -> None:
    """Put back every converted layer whose forward does not run on ``example``."""
    called: set[int] = set()
    hooks = [new.register_forward_pre_hook(lambda m, _: called.add(id(m)))
             for _, _, _, new, _ in replaced]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    unused = [(parent, child_name, old, name) for parent, child_name, old, new, name
              in replaced if id(new) not in called]
    for parent, child_name, old, _ in unused:
        setattr(parent, child_name, old)
    if unused:
        names = [u[3] for u in unused]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        warnings.warn(f"convert: {len(names)} layers ({shown}) are used by their parent "
                      "without their forward; they stay as they were", stacklevel=3)
