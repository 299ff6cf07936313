"""Registries: one per kind of component, filled at import, with factories that fail loudly.

Every pluggable part of hyper (models, convolution operators, linear operators, margin
heads, datasets, regularizers, attacks, face verification protocols, kinds of run,
GAN networks and losses) is registered here under a name, so recipes refer to
components by name and ``hyper list`` can show them all::

    @CONVS.register("sphere")
    class SphereConv2d(nn.Conv2d): ...

    conv = CONVS.get("sphere")            # the class
    model = MODELS.create("plain-cnn-9", num_classes=100)

An unknown name raises ``HyperError`` listing the known names.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from hypercli.errors import HyperError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> component table for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}
        self._families: dict[str, tuple[Callable[[str], T], str]] = {}

    def register(self, name: str, help: str | None = None) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a second use of a name is a bug."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            doc = help or (inspect.getdoc(obj) or "").split("\n")[0]
            self._help[name] = doc
            return obj

        return deco

    def register_family(self, prefix: str, resolve: Callable[[str], T], help: str) -> None:
        """Names ``<prefix><name>`` resolved on demand by ``resolve(name)`` (which raises
        ``HyperError`` for an unknown name): components from another library, such as
        ``torchvision/resnet18``."""
        if prefix in self._families:
            raise ValueError(f"{self.kind} family {prefix!r} is registered twice")
        self._families[prefix] = (resolve, help)

    def get(self, name: str) -> T:
        load_all()
        for prefix, (resolve, _) in self._families.items():
            if name.startswith(prefix):
                return resolve(name[len(prefix):])
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            close = difflib.get_close_matches(name, list(self._items), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise HyperError(f"unknown {self.kind} {name!r}{hint}; known: {known}") from None

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Build the component ``name``; unknown keyword arguments are a ``HyperError``."""
        factory = self.get(name)
        check_kwargs(factory, kwargs, f"{self.kind} {name!r}")
        return factory(*args, **kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        """The registered names, then one ``<prefix><name>`` entry per family."""
        load_all()
        return sorted(self._items) + [f"{p}<name>" for p in sorted(self._families)]

    def help(self, name: str) -> str:
        load_all()
        for prefix, (_, text) in self._families.items():
            if name == f"{prefix}<name>":
                return text
        return self._help.get(name, "")

    def __contains__(self, name: object) -> bool:
        load_all()
        return name in self._items or (isinstance(name, str) and any(
            name.startswith(p) for p in self._families))

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._items)})"


def check_kwargs(factory: Any, kwargs: dict[str, Any], what: str) -> None:
    """Raise ``HyperError`` naming any keyword ``factory`` does not accept."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise HyperError(
            f"{what} takes no argument {unknown[0]!r}; it takes: {', '.join(sorted(accepted))}"
        )
    hints = _type_hints(factory)
    for name, value in kwargs.items():
        param = sig.parameters[name]
        problem = _type_problem(hints.get(name), value) or _range_problem(param.default, value)
        if problem:
            raise HyperError(f"{what}: {name}={value!r}: {problem}")


def _type_hints(factory: Any) -> dict[str, Any]:
    import typing

    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # an annotation that does not resolve: check the range only
        return {}


def _type_problem(annotation: Any, value: Any) -> str | None:
    """Why ``value`` does not fit the annotation (None if it does, or if not checkable).

    Strict: "5" is no int and 1 no bool; a list stands for a tuple (YAML has no tuples).
    """
    if annotation is None or annotation is inspect.Parameter.empty:
        return None
    from pydantic import TypeAdapter, ValidationError

    try:
        adapter = TypeAdapter(annotation)
    except Exception:  # not a type pydantic knows (a callable, a torch alias): skip
        return None
    candidates = [value, tuple(value)] if isinstance(value, list) else [value]
    for v in candidates:
        try:
            adapter.validate_python(v, strict=True)
            return None
        except ValidationError as exc:
            err = exc.errors()[0]
    shown = str(annotation) if getattr(annotation, "__args__", None) else \
        getattr(annotation, "__name__", str(annotation))
    return f"expected {shown} ({err['msg']})"


def _numbers(value: Any) -> list[Any]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _range_problem(default: Any, value: Any) -> str | None:
    """The range of a numeric argument, read from its default: a size, count, scale or rate.

    A default >= 0 asks for a finite value >= 0; an integer default >= 1 (widths, depths,
    sizes, class counts, strides) for integers >= 1. Sequences are checked element-wise.
    """
    defaults = _numbers(default)
    if not defaults or any(d < 0 for d in defaults):
        return None
    for v in _numbers(value):
        if v != v or v in (float("inf"), float("-inf")):
            return "must be a finite number"
        if all(isinstance(d, int) and d >= 1 for d in defaults) and v < 1:
            return "must be >= 1"
        if v < 0:
            return "must be >= 0"
    return None


MODELS: Registry[Callable[..., Any]] = Registry("model")
CONVS: Registry[type] = Registry("conv operator")
LINEARS: Registry[type] = Registry("linear operator")
HEADS: Registry[type] = Registry("loss head")
DATASETS: Registry[Callable[..., Any]] = Registry("dataset")
READERS: Registry[Callable[..., Any]] = Registry("data format")  # streamed from disk
REGULARIZERS: Registry[type] = Registry("regularizer")
ATTACKS: Registry[type] = Registry("attack")
TASKS: Registry[type] = Registry("kind of run")  # recipe.task: classify, ...
# face verification: how embeddings of pairs become an accuracy (insightface, sphereface)
PROTOCOLS: Registry[Any] = Registry("verification protocol")
GENERATORS: Registry[Callable[..., Any]] = Registry("generator")  # recipe gan.generator
DISCRIMINATORS: Registry[Callable[..., Any]] = Registry("discriminator")  # gan.discriminator
GAN_LOSSES: Registry[type] = Registry("GAN loss")  # recipe gan.loss

# The packages whose import fills the registries above.
_PACKAGES = (
    "hypercli.nn",
    "hypercli.losses",
    "hypercli.models",
    "hypercli.data",
    "hypercli.mhe",
    "hypercli.attacks",
    "hypercli.gan",
    "hypercli.engine.tasks",
    "hypercli.verification",
)
_loaded = False


def load_all() -> None:
    """Import every component package once, so that every registry is complete."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for pkg in _PACKAGES:
        importlib.import_module(pkg)
