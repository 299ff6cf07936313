"""The recipe: one typed schema for every experiment, loaded from YAML plus ``--set`` overrides.

A recipe file holds only what differs from the defaults below, or from another recipe
named by ``base:`` (merged section by section; lists are replaced). Component arguments
(``model.conv_args``, ``loss.args``, ``regularizers[i].args``, ...) are checked against the
component's own signature when it is built, so an unknown key is an error there too.

    recipe = load_recipe("fmnist-quick.yaml", overrides=["optimizer.lr=0.05"])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hypercli.errors import HyperError

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


class _Section(BaseModel):
    # inf and NaN are never a setting (``epochs: 1e400`` is read as inf)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Imbalance(_Section):
    """Class-imbalanced training set (MHE paper, CIFAR-10 imbalance experiments).

    ``single``: class ``classes[0]`` keeps ``ratios[0]`` of its images (default 10%).
    ``multiple``: class ``classes[i]`` keeps ``ratios[i]`` of its images.
    """

    kind: Literal["single", "multiple"]
    classes: list[int] = Field(default_factory=lambda: [0])
    ratios: list[float] = Field(default_factory=lambda: [0.1])

    @model_validator(mode="after")
    def _same_length(self) -> Imbalance:
        if len(self.classes) != len(self.ratios):
            raise ValueError("imbalance.classes and imbalance.ratios need the same length")
        if any(not 0.0 < r <= 1.0 for r in self.ratios):
            raise ValueError("imbalance.ratios must lie in (0, 1]")
        if self.kind == "single" and len(self.classes) != 1:
            raise ValueError("imbalance kind 'single' cuts exactly one class")
        return self


class DataConfig(_Section):
    name: str = "fashion-mnist"
    root: str | None = None  # directory of the files; each dataset has its own default
    # what data.root must hold and where to get it, said when it is missing (face recipes)
    expects: str = ""
    download: bool = False  # let torchvision fetch CIFAR when the machine is online
    args: dict[str, Any] = Field(default_factory=dict)  # dataset-specific (synthetic sizes)
    subset: int | None = Field(None, gt=0)  # use the first N training images (after shuffle)
    classes: list[int] | None = None  # train/test on these classes only (open-set training)
    val_split: float = Field(0.0, ge=0.0, lt=1.0)  # hold this fraction out of training
    # crop/flip: batched on the device (in memory) or per image; random-resized-crop:
    # ImageNet's RandomResizedCrop to image_size (formats streamed from disk only)
    augment: list[Literal["crop", "flip", "random-resized-crop"]] = Field(default_factory=list)
    pad: int = Field(4, ge=0)  # padding of the random crop
    imbalance: Imbalance | None = None
    batch_size: int = Field(128, gt=0)
    eval_batch_size: int = Field(1000, gt=0)
    on_device: bool = True  # on a GPU: keep the dataset there if it fits, else pinned memory
    # formats streamed from disk (folder, list, webdataset, recordio; hypercli.data.stream)
    # the size images are resized and cropped to: S (S x S) or [H, W] (SphereFace's faces:
    # [112, 96]); None: the images' stored size, square or not
    image_size: int | tuple[int, int] | None = None
    crop_pct: float = Field(0.875, gt=0.0, le=1.0)  # eval: resize to image_size/crop_pct
    workers: int = Field(2, ge=0)  # DataLoader worker processes decoding images
    skip_corrupt: bool = False  # skip undecodable images (counted per epoch) instead of failing
    samples_per_epoch: int | None = Field(None, gt=0)  # webdataset; default: all samples
    shuffle_buffer: int = Field(1000, gt=0)  # webdataset sample buffer

    @field_validator("image_size", mode="before")
    @classmethod
    def _image_size(cls, v: Any) -> Any:
        def side(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool) and x > 0

        if v is None or side(v):
            return v
        if isinstance(v, (list, tuple)) and len(v) == 2 and all(side(x) for x in v):
            return tuple(v)
        raise ValueError(f"{v!r}: expected a size in pixels, S (S x S) or [H, W] (e.g. "
                         "[112, 96]), of positive integers")


class ModelConfig(_Section):
    name: str = "plain-cnn-small"
    args: dict[str, Any] = Field(default_factory=dict)  # builder-specific (widths, depth)
    conv: str = "conv"
    conv_args: dict[str, Any] = Field(default_factory=dict)
    linear: str = "linear"
    linear_args: dict[str, Any] = Field(default_factory=dict)
    batchnorm: bool = True
    feature_dim: int | None = Field(None, gt=0)  # add a linear layer to this many features


class LossConfig(_Section):
    name: str = "softmax"
    args: dict[str, Any] = Field(default_factory=dict)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    # PartialFC (An et al. CVPR 2022): under torchrun the head's class centers are sharded
    # over the ranks and the softmax is computed across them (hypercli.losses.partial_fc)
    partial_fc: bool = False
    sample_rate: float = Field(1.0, gt=0.0, le=1.0)  # share of each shard's centers per step


class OptimizerConfig(_Section):
    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0.0)
    # no weight decay for parameters whose name contains an entry, or whose module's class
    # is named by one (SphereNet: no_decay: [SphereConv2d])
    no_decay: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerConfig:
        if self.name == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("optimizer.nesterov needs optimizer.momentum > 0")
        return self


class ScheduleConfig(_Section):
    # poly: (1 - t)^power after the warm-up (insightface's PolyScheduler, power 2)
    name: Literal["constant", "multistep", "cosine", "onecycle", "poly"] = "multistep"
    milestones: list[float] = Field(default_factory=list)  # in epochs (fractions allowed)
    # multistep in optimizer steps instead (Caffe's stepvalue: SphereFace's 16k, 24k)
    milestone_steps: list[int] = Field(default_factory=list)
    power: float = Field(2.0, gt=0.0)  # poly
    gamma: float = Field(0.1, gt=0.0)
    warmup_epochs: float = Field(0.0, ge=0.0)
    pct_start: float = Field(0.25, gt=0.0, lt=1.0)  # onecycle

    @model_validator(mode="after")
    def _one_kind_of_milestones(self) -> ScheduleConfig:
        if self.milestones and self.milestone_steps:
            raise ValueError("give schedule.milestones (in epochs) or schedule.milestone_steps "
                             "(in optimizer steps), not both")
        if any(m < 1 for m in self.milestone_steps):
            raise ValueError("schedule.milestone_steps are optimizer steps >= 1")
        return self


class AdversarialConfig(_Section):
    """Adversarial training: replace ``fraction`` of each batch by attacked images."""

    method: str = "fgsm"
    eps: float = Field(8.0, ge=0.0)  # L-inf methods: in 1/255 units; L2: plain norm
    alpha: float | None = Field(None, gt=0.0)  # step size, same units; None: attack default
    steps: int = Field(1, ge=1)
    random_start: bool | None = None
    fraction: float = Field(0.5, gt=0.0, le=1.0)


class TrainConfig(_Section):
    epochs: float = Field(10, gt=0, le=1e6)
    # the run's length in optimizer steps instead (face solvers count iterations: SphereFace
    # 28k at batch 256); overrides epochs
    steps: int | None = Field(None, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # "auto": on CUDA only (every recipe before these switches ran so); true: on every device
    # (CPU too: bf16 autocast needs a CPU with native bf16, channels_last suits oneDNN's
    # convolutions); false: never
    amp: bool | Literal["auto"] = "auto"  # bf16 autocast
    channels_last: bool | Literal["auto"] = "auto"  # the channels_last memory format
    compile: bool = False
    sync_batchnorm: bool = False  # under torchrun
    grad_clip: float | None = Field(None, gt=0.0)
    eval_every: int = Field(1, ge=0)  # evaluate every N epochs (0: only at the end)
    adversarial: AdversarialConfig | None = None


class RegularizerConfig(_Section):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class VerificationConfig(_Section):
    """Open-set verification (LFW-style) on classes never seen in training."""

    classes: list[int]  # held-out classes the pairs are drawn from
    pairs: int = Field(6000, gt=0)  # half same-class, half different-class
    folds: int = Field(10, ge=2)
    far: list[float] = Field(default_factory=lambda: [1e-3, 1e-2])


class VerifySet(_Section):
    """A face verification set scored during training and by ``hyper eval``
    (``hypercli.verification``): an insightface ``.bin``, an LFW ``pairs.txt`` (with
    ``images``, its image root) or a ``label path0 path1`` pair list."""

    path: str
    images: str | None = None  # pairs.txt: the folder of Name/Name_0001.jpg
    protocol: str | None = None  # insightface | sphereface; None: the format's own
    name: str | None = None  # in metrics.jsonl (verify/<name>/accuracy); default: file stem


class EvalConfig(_Section):
    verification: VerificationConfig | None = None
    # face verification sets (LFW, CFP-FP, AgeDB-30 ...) run every verify_every steps
    # (0: with each evaluation, train.eval_every) and at the end; logged in metrics.jsonl
    verify: list[VerifySet] = Field(default_factory=list)
    verify_every: int = Field(0, ge=0)
    # test-time augmentation of accuracy and loss: "flip" averages the logits of each image
    # and its mirror (airbench, Jordan 2024); attacks always see the plain model
    tta: list[Literal["flip"]] = Field(default_factory=list)


class GanConfig(_Section):
    """A GAN (``task: gan``): the networks, the adversarial loss and the two Adam optimizers.

    Defaults are SNGAN's (Miyato et al., ICLR 2018): the standard CNN, z ∈ R^128, Adam
    lr 2e-4, betas (0.5, 0.999), one discriminator step per generator step (Table 1,
    setting C). ``regularizers`` of the recipe act on the discriminator.
    """

    generator: str = "sngan-cnn"  # hypercli.registry.GENERATORS
    generator_args: dict[str, Any] = Field(default_factory=dict)  # widths, ...
    discriminator: str = "sngan-cnn"  # hypercli.registry.DISCRIMINATORS
    discriminator_args: dict[str, Any] = Field(default_factory=dict)
    z_dim: int = Field(128, gt=0)  # latent code z ~ N(0, I)
    loss: str = "hinge"  # hypercli.registry.GAN_LOSSES: hinge, nonsaturating
    n_dis: int = Field(1, ge=1)  # discriminator steps per generator step
    lr_g: float = Field(2e-4, gt=0.0)
    lr_d: float = Field(2e-4, gt=0.0)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam's, for both networks
    grid_samples: int = Field(64, gt=0, le=1024)  # images of each epoch's sample grid
    # the feature and logit network of `hyper eval`'s FID / IS / KID (hypercli.gan.scores):
    # "checkpoint:RUN" (a hyper classifier of the same images) or "inception:WEIGHTS.pth"
    features: str | None = None
    score_samples: int = Field(10_000, gt=1)  # generated images scored (and as many real)

    @model_validator(mode="after")
    def _betas_in_range(self) -> GanConfig:
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"gan.betas {list(self.betas)}: each must lie in [0, 1)")
        return self


class Recipe(_Section):
    name: str = "recipe"
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63)  # what torch, numpy and Python's RNGs all take
    task: str = "classify"  # the kind of run (hypercli.registry.TASKS; `hyper list`)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    regularizers: list[RegularizerConfig] = Field(default_factory=list)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    gan: GanConfig | None = None  # task gan only; None there means the defaults

    @model_validator(mode="after")
    def _gan_section_needs_task_gan(self) -> Recipe:
        if self.task == "gan":
            if self.gan is None:
                self.gan = GanConfig()
        elif self.gan is not None:
            raise ValueError(f"a gan section applies to task gan only, and the task is "
                             f"{self.task!r}; set task: gan or remove the gan section")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# (section, field, the components that use it): a value other than the default is ignored
# by every other component, so setting it is most likely a mistake.
_USED_BY = [
    ("optimizer", "momentum", "name", ("sgd",)),
    ("optimizer", "nesterov", "name", ("sgd",)),
    ("schedule", "milestones", "name", ("multistep",)),
    ("schedule", "milestone_steps", "name", ("multistep",)),
    ("schedule", "power", "name", ("poly",)),
    ("loss", "sample_rate", "partial_fc", (True,)),
    ("schedule", "gamma", "name", ("multistep",)),
    ("schedule", "pct_start", "name", ("onecycle",)),
    ("schedule", "warmup_epochs", "name", ("constant", "multistep", "cosine", "poly")),
]


# what a GAN (task gan) does not read: the classifier's sections, and these train switches
_CLASSIFY_ONLY = ("model", "loss", "optimizer", "schedule", "eval")
_GAN_IGNORES = ("amp", "channels_last", "compile")


def _ignored_by_gan(recipe: Recipe) -> list[str]:
    out = []
    for section in _CLASSIFY_ONLY:
        cfg = getattr(recipe, section)
        for key, field in type(cfg).model_fields.items():
            value = getattr(cfg, key)
            if value != field.get_default(call_default_factory=True):
                shown = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
                out.append(f"{section}.{key}={shown} has no effect with task gan (its networks, "
                           "loss and optimizers are set in the gan section)")
    tc = recipe.train
    if tc.adversarial is not None:
        out.append("train.adversarial has no effect with task gan (adversarial training "
                   "attacks a classifier)")
    for key in _GAN_IGNORES:
        if getattr(tc, key) is True:
            out.append(f"train.{key}=true has no effect with task gan (a GAN trains in float32, "
                       "eager, in the default memory format)")
    return out


def ignored_settings(recipe: Recipe) -> list[str]:
    """One line for each recipe value that the chosen component ignores (not the default,
    yet without effect), e.g. ``schedule.milestones`` with the one-cycle schedule, or
    ``optimizer.lr`` with ``task: gan`` (whose learning rates are ``gan.lr_g``/``lr_d``)."""
    out = _ignored_by_gan(recipe) if recipe.task == "gan" else []
    for section, key, selector, users in _USED_BY if recipe.task != "gan" else []:
        cfg = getattr(recipe, section)
        default = type(cfg).model_fields[key].get_default(call_default_factory=True)
        chosen = getattr(cfg, selector)
        if chosen not in users and getattr(cfg, key) != default:
            out.append(f"{section}.{key}={getattr(cfg, key)} has no effect with "
                       f"{section}.{selector}={chosen} (only with {', '.join(users)})")
    d = recipe.data
    if "crop" not in d.augment and d.pad != DataConfig.model_fields["pad"].default:
        out.append(f"data.pad={d.pad} has no effect without the crop augmentation "
                   "(data.augment: [crop])")
    return out


def list_recipes() -> list[str]:
    """Names of the bundled recipes (files in hypercli/recipes)."""
    return sorted(p.name for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe_path(name: str | os.PathLike[str]) -> Path:
    """A path that exists, else a bundled recipe (``.yaml`` optional)."""
    path = Path(name)
    if path.is_file():
        return path
    for candidate in (RECIPES_DIR / path.name, RECIPES_DIR / f"{path.name}.yaml"):
        if candidate.is_file():
            return candidate
    raise HyperError(
        f"recipe {str(name)!r} not found: it is no file and no bundled recipe; "
        f"bundled: {', '.join(list_recipes())} (see `hyper list`)"
    )


def _set_path(tree: dict[str, Any], key: str, value: Any, source: str) -> None:
    parts = key.split(".")
    node: Any = tree
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            try:
                node = node[int(part)]
                continue
            except (ValueError, IndexError):
                raise HyperError(f"{source}: {'.'.join(parts[: i + 1])} is no list index") from None
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        elif not isinstance(nxt, (dict, list)):
            raise HyperError(f"{source}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        try:
            node[int(last)] = value
        except (ValueError, IndexError):
            raise HyperError(f"{source}: {key} is no list index") from None
    else:
        node[last] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=c"`` -> ``("a.b", yaml-parsed c)``."""
    if "=" not in text:
        raise HyperError(f"--set {text!r}: expected key.path=value, e.g. optimizer.lr=0.05")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise HyperError(f"--set {text!r}: the key is empty")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def build_recipe(tree: dict[str, Any], source: str = "<recipe>") -> Recipe:
    """Validate a nested dict against the schema; errors name the key and ``source``. The
    ``task`` is checked first, against the registered kinds of run (``TASKS``)."""
    task = tree.get("task", "classify") if isinstance(tree, dict) else None
    if isinstance(task, str):  # first: what else is valid depends on the kind of run
        from hypercli.registry import TASKS

        try:
            TASKS.get(task)
        except HyperError as exc:
            raise HyperError(f"{source}: task: {exc}") from None
    try:
        return Recipe.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise HyperError(f"{source}: {loc}: {msg}{more}") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_tree(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML mapping of ``path``, with its ``base:`` chain merged in."""
    source = str(path)
    if path.resolve() in seen:
        raise HyperError(f"{source}: recipes inherit from each other in a cycle")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HyperError(f"{source}: not UTF-8 text (byte {exc.start}); a recipe is a YAML "
                         "file in UTF-8") from None
    except OSError as exc:
        raise HyperError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise HyperError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise HyperError(f"{source}: a recipe is a mapping of sections, "
                         f"got {type(loaded).__name__}")
    base = loaded.pop("base", None)
    if base is None:
        return loaded
    if not isinstance(base, str):
        raise HyperError(f"{source}: base: expected a recipe name or path")
    sibling = path.parent / base
    base_path = sibling if sibling.is_file() else resolve_recipe_path(base)
    parent = _read_tree(base_path, (*seen, path.resolve()))
    parent.pop("name", None)
    parent.pop("description", None)
    return _merge(parent, loaded)


def load_recipe(name: str | os.PathLike[str] | None = None,
                overrides: list[str] | None = None) -> Recipe:
    """Load a recipe file (or the defaults), apply ``key.path=value`` overrides, validate."""
    tree: dict[str, Any] = {}
    source = "<defaults>"
    if name is not None:
        path = resolve_recipe_path(name)
        source = str(path)
        tree = _read_tree(path)
        tree.setdefault("name", path.stem)
    return apply_overrides(tree, overrides or [], source)


def apply_overrides(tree: dict[str, Any], overrides: list[str], source: str) -> Recipe:
    """Apply ``key.path=value`` overrides to a recipe tree and validate it."""
    for text in overrides:
        key, value = parse_override(text)
        _set_path(tree, key, value, f"{source} --set {text}")
    where = source + (" with --set overrides" if overrides else "")
    return build_recipe(tree, where)


def save_recipe(recipe: Recipe, path: Path) -> None:
    from hypercli.engine.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(recipe.to_dict(), sort_keys=False))
