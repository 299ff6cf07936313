"""PartialFC: the class-center matrix of any margin head sharded over ranks (model parallel).

An et al., "Killing Two Birds with One Stone: Efficient and Robust Training of Face
Recognition CNNs by Partial FC", CVPR 2022 (arXiv 2203.15565); insightface's
``recognition/arcface_torch/partial_fc_v2.py`` is the reference implementation.

**Sharding.** Of W (C, D), rank r of ``world`` keeps the rows [start_r, end_r): C // world
rows each, one more on the first C % world ranks (``shard_bounds``; insightface's split).
Class-indexed head parameters (A-Softmax's ``weight``, plain softmax's ``bias`` (C,)) are
split the same way; buffers (A-Softmax's ``iteration``) are replicated. Only the backbone
goes into DistributedDataParallel; W is never all-reduced.

**Forward.** The embeddings (B_r, D) and labels (B_r,) of every rank are all-gathered into
the global batch x (N, D), y (N,), N = sum of B_r (per-rank batches may differ). Each rank
computes the logits z (N, K) of the global batch against its K centers with the head's own
methods: ``margin_logits`` on the rows whose label falls in the shard (the margin lands on
the target column, so A-Softmax, L-Softmax, CosFace, ArcFace, SphereFace-R, normalized and
plain softmax all work unchanged), ``logits`` on the others. Then a distributed softmax
cross-entropy (one MAX all-reduce of the row maxima, one SUM all-reduce of sum exp, of the
target logit and of sum z), in float32 (float64 stays), gives on every rank the same

    L = (1/N) sum_i [(1 - eps) (log sum_{j in S} e^{z_ij} - z_{i,y_i})
                     + eps (log sum_{j in S} e^{z_ij} - (1/|S|) sum_{j in S} z_ij)]

with S every class (sample_rate 1) or the kept centers of all ranks (sample_rate < 1), and
eps the head's ``label_smoothing``: ``F.cross_entropy``'s definition. With sample_rate 1
this is exactly the head's loss on the concatenated batch with the whole matrix.

**Gradient scaling.** Every rank holds the same scalar L. Its backward gives rank r the exact
dL/dW_r of its own rows (no averaging: W stays out of DDP) and a partial dL/dx from its
columns only. The all-gather's backward sums these partials over ranks (an all-reduce) and
hands each rank the rows of its own samples, multiplied by ``world``: the backbone gradient
of rank r is then world * g_r, where g_r is its samples' share of dL/dtheta, and DDP's
average (1/world) sum_r world * g_r = dL/dtheta is exactly the gradient of single-process
training on the concatenated batch. So ``local_features.grad`` = world * dL/dx (the plain
dL/dx in one process). Gradient clipping must see the whole matrix: ``clip_grad_norm_``.

**Sampling** (sample_rate r < 1, insightface v2): each training step keeps, on each rank,
the positive centers of the global batch in its shard plus random negatives up to
``num_sample = max(1, int(r * rows))`` centers (all positives when they are more), and the
loss runs over the kept centers only; unkept rows get a zero gradient (momentum and weight
decay still move them, as in insightface v2). Eval mode uses every center. The draw is a
function of (``seed``, the ``sample_step`` buffer, rank), so it repeats exactly on resume
with the same process count.

**What differs from insightface.** Any ``MarginHead`` through its own ``margin_logits``
(insightface applies a margin function to cosines, which cannot express A-Softmax's
||x|| psi(theta) or L-Softmax's ||W_j||); label smoothing; uneven per-rank batches; seeded
sampling; and checkpoints hold the WHOLE matrix: ``state_dict()`` has the wrapped head's
keys and shapes (``weight`` (C, D), the buffers), loading takes this rank's rows, so a run
resumes on any number of processes and the saved head loads into a plain ``Net``.

**Memory.** ``state_dict()``, ``to_head()`` and ``gather_optimizer_state()`` all-gather, so
every rank holds the whole (C, D) matrix for a moment (C * D * 4 bytes: 2 GB at 1M x 512).

**Collectives.** With world > 1, ``forward``/``backward``, ``state_dict()``, ``to_head()``,
``gather_optimizer_state()`` and ``clip_grad_norm_`` are collectives: every rank must call
them, in the same order (call ``state_dict()`` on all ranks, then let rank 0 write).
Loading (``load_state_dict``, ``load_optimizer_state``) is local.

**Shapes.** ``pfc(local_features (B_r, D), local_labels (B_r,) int64)`` -> scalar loss;
``pfc.head.weight`` (end_r - start_r, D); ``pfc.state_dict()["weight"]`` (C, D).

Example, one training step and a checkpoint (under torchrun; world 1 needs no group)::

    backbone, pfc = shard(net, rank, world, sample_rate=1.0)
    model = nn.ModuleDict(dict(backbone.named_children(), head=pfc))  # the Net's keys
    ddp = nn.parallel.DistributedDataParallel(backbone)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss = pfc(ddp(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": pfc.gather_optimizer_state(opt)}
    # resume on any world: model.load_state_dict(ckpt["model"]);
    # pfc.load_optimizer_state(opt, ckpt["optimizer"]); pfc.sample_step.fill_(steps_done)
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.func import functional_call

from hypercli.errors import HyperError
from hypercli.losses.base import MarginHead
from hypercli.nn.functional import full_precision, upcast

__all__ = ["Backbone", "PartialFC", "clip_grad_norm_", "draw_seed", "sample_centers", "shard",
           "shard_bounds"]


def shard_bounds(num_classes: int, world: int, rank: int) -> tuple[int, int]:
    """Rows [start, end) of the C class rows held by ``rank`` of ``world``.

    C // world rows each, one more on each of the first C % world ranks: C=7, world=2 gives
    [0, 4) and [4, 7).
    """
    base, extra = divmod(num_classes, world)
    start = rank * base + min(rank, extra)
    return start, start + base + int(rank < extra)


def draw_seed(seed: int, step: int, rank: int) -> int:
    """The 63-bit generator seed of the negative draw of ``rank`` at ``step``."""
    digest = hashlib.blake2b(f"{seed}:{step}:{rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def sample_centers(positive: torch.Tensor, num_local: int, num_sample: int,
                   seed: int) -> torch.Tensor:
    """The kept local centers (K,) int64, sorted: every ``positive`` (sorted unique local ids
    (P,)) plus ``num_sample - P`` negatives drawn uniformly without replacement from the other
    ``num_local - P`` rows; K = max(num_sample, P). Reproducible for the same ``seed``."""
    if num_sample <= positive.numel():
        return positive
    gen = torch.Generator(device=positive.device).manual_seed(seed)
    keys = torch.rand(num_local, generator=gen, device=positive.device)
    keys[positive] = 2.0  # above every uniform key: positives are always kept
    return keys.topk(num_sample).indices.sort().values


def _gather_rows(x: torch.Tensor, sizes: list[int], group: Any) -> torch.Tensor:
    """All-gather tensors of sizes[r] rows from each rank r: (sum sizes, ...), rank order."""
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded, group=group)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


class _GatherFeatures(torch.autograd.Function):
    """All-gather of the features whose backward sums the gradient over ranks, keeps this
    rank's rows and multiplies them by ``scale`` (world: DDP then averages to the exact
    gradient, see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, sizes: list[int], rank: int, scale: float,
                group: Any) -> torch.Tensor:
        ctx.sizes, ctx.rank, ctx.scale, ctx.group = sizes, rank, scale, group
        return _gather_rows(x, sizes, group)  # (N, D)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        sizes = ctx.sizes
        padded = grad.new_zeros((len(sizes), max(sizes), *grad.shape[1:]))
        for r, part in enumerate(grad.split(sizes)):
            padded[r, : part.shape[0]] = part
        dist.all_reduce(padded, group=ctx.group)
        return padded[ctx.rank, : sizes[ctx.rank]] * ctx.scale, None, None, None, None


class _ShardedCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy of logits whose columns are split over ranks.

    logits (N, K): this rank's columns of the global batch; target (N,): the target's column
    here, or -1 where it lives on another rank; ``classes``: the total column count over
    ranks (for label smoothing, as ``F.cross_entropy``). Returns the same scalar on every rank;
    the gradient of the logits is local: (softmax - (1 - eps) onehot - eps / classes) / N.
    """

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor, smoothing: float,
                classes: int, group: Any, world: int) -> torch.Tensor:
        n = logits.shape[0]
        top = logits.amax(1)  # (N,)
        if world > 1:
            dist.all_reduce(top, op=dist.ReduceOp.MAX, group=group)
        exp = (logits - top[:, None]).exp_()  # (N, K)
        here = target >= 0
        tgt = logits.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        tgt = torch.where(here, tgt, torch.zeros_like(tgt))
        sums = torch.stack([exp.sum(1), tgt, logits.sum(1)])  # (3, N)
        if world > 1:
            dist.all_reduce(sums, group=group)
        total_exp, target_logit, logit_sum = sums
        log_z = top + total_exp.log()  # (N,)
        rows = (1.0 - smoothing) * (log_z - target_logit)
        if smoothing:
            rows = rows + smoothing * (log_z - logit_sum / classes)
        prob = exp.div_(total_exp[:, None])  # this rank's softmax columns
        ctx.save_for_backward(prob, target)
        ctx.smoothing, ctx.classes = smoothing, classes
        return rows.sum() / n

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):
        prob, target = ctx.saved_tensors
        eps = ctx.smoothing
        grad = prob - eps / ctx.classes if eps else prob.clone()
        rows = (target >= 0).nonzero().squeeze(1)
        grad[rows, target[rows]] -= 1.0 - eps
        grad *= grad_out / prob.shape[0]
        return grad, None, None, None, None, None


class _Call(nn.Module):
    """``head.<method>(*args)`` as a forward, so ``functional_call`` can swap in the kept rows."""

    def __init__(self, head: MarginHead, method: str) -> None:
        super().__init__()
        self.head, self.method = head, method

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return getattr(self.head, self.method)(*args)


def _save_whole(module: PartialFC, state: dict[str, Any], prefix: str, _meta: Any) -> None:
    """state_dict post-hook: ``head.<name>`` shard entries -> ``<name>`` whole-matrix entries."""
    for name in module._head_keys:
        value = state.pop(prefix + "head." + name)
        if name in module._per_class:
            value = module._gather_whole(value.detach())
        state[prefix + name] = value


def _load_rows(module: PartialFC, state: dict[str, Any], prefix: str, _meta: Any,
               _strict: bool, _missing: list[str], _unexpected: list[str],
               errors: list[str]) -> None:
    """load_state_dict pre-hook: whole-matrix ``<name>`` entries -> this rank's ``head.<name>``."""
    for name in module._head_keys:
        key = prefix + name
        if key not in state:
            continue
        value = state.pop(key)
        if name in module._per_class:
            if value.ndim == 0 or value.shape[0] != module.num_classes:
                errors.append(f"{key}: PartialFC loads the whole class matrix "
                              f"({module.num_classes} rows), got shape {tuple(value.shape)}")
                continue
            value = value[module.start:module.end]
        state[prefix + "head." + name] = value


class PartialFC(nn.Module):
    """A margin head whose class rows are sharded over ranks; ``forward`` gives the global loss.

    Args:
        head: any ``MarginHead`` (``hypercli.registry.HEADS``) holding the whole matrix; it
            is not modified: this rank's rows are copied out of it.
        rank, world: this process's rank and the number of ranks; default the process group's
            (0 and 1 without one). world 1 needs no process group.
        sample_rate: r in (0, 1]; r < 1 keeps the batch's positive centers plus random
            negatives up to r of this shard's rows each training step (module docstring);
            eval mode uses every center.
        seed: seed of the negative draw.
        group: the process group (default: the world group).

    Shapes: ``forward(local_features (B_r, D), local_labels (B_r,) int64)`` -> scalar, the
    mean loss over the global batch (float32; float64 stays). ``local_features.grad`` gets
    world * dL/dx (see the module docstring). ``head.weight``: this rank's rows
    (end - start, D). ``state_dict()``: the wrapped head's keys, ``weight`` (C, D).

    Attributes: ``start``, ``end`` (this rank's rows), ``num_classes`` C, ``in_features`` D,
    ``num_sample`` (kept rows per step when sampling), ``sample_step`` (a non-persistent
    buffer counting training forwards; restore it on resume: ``sample_step.fill_(step)``),
    ``last_kept`` (the global ids of the centers kept here in the last sampled forward).

    Raises:
        HyperError: ``sample_rate`` outside (0, 1]; ``head`` not a ``MarginHead``, or one
            that overrides ``forward`` or has parameters not indexed by class; fewer classes
            than ranks; rank/world not those of the process group; world > 1 without one;
            labels not integers or outside [0, C).
    """

    def __init__(self, head: MarginHead, rank: int | None = None, world: int | None = None,
                 sample_rate: float = 1.0, seed: int = 0, group: Any = None) -> None:
        super().__init__()
        if not isinstance(head, MarginHead):
            raise HyperError(f"PartialFC wraps a margin head (hypercli.losses.MarginHead), "
                             f"got {type(head).__name__}")
        if type(head).forward is not MarginHead.forward:
            raise HyperError(f"PartialFC: {type(head).__name__} overrides forward, so its loss "
                             "is not the cross-entropy of its margin_logits; shard another head")
        if isinstance(sample_rate, bool) or not 0.0 < float(sample_rate) <= 1.0:
            raise HyperError(f"PartialFC: sample_rate must be in (0, 1], got {sample_rate!r}")
        c = head.num_classes
        per_class = {n: p for n, p in head.named_parameters(recurse=False)
                     if p.ndim >= 1 and p.shape[0] == c}
        others = [n for n, _ in head.named_parameters() if n not in per_class]
        if others:
            raise HyperError(f"PartialFC: {type(head).__name__} has parameters not indexed by "
                             f"class ({', '.join(others)}), which cannot be sharded")
        rank, world = _rank_and_world(rank, world, group, c)
        self.rank, self.world, self.group = rank, world, group
        self.num_classes, self.in_features = c, head.in_features
        self.start, self.end = shard_bounds(c, world, rank)
        self.num_local = self.end - self.start
        self.sample_rate, self.seed = float(sample_rate), int(seed)
        self.num_sample = max(1, int(self.sample_rate * self.num_local))
        self._per_class = tuple(per_class)
        self._head_keys = tuple(head.state_dict().keys())
        memo = {id(p): nn.Parameter(p.detach()[self.start:self.end].clone(),
                                    requires_grad=p.requires_grad)
                for p in per_class.values()}
        self.head = copy.deepcopy(head, memo)  # this rank's rows, the head's buffers
        self.register_buffer("sample_step", torch.zeros((), dtype=torch.long), persistent=False)
        self.last_kept: torch.Tensor | None = None
        self.register_state_dict_post_hook(_save_whole)
        self.register_load_state_dict_pre_hook(_load_rows)

    # -- training ---------------------------------------------------------------------------

    def forward(self, local_features: torch.Tensor, local_labels: torch.Tensor) -> torch.Tensor:
        if (local_labels.dtype.is_floating_point or local_labels.dtype == torch.bool
                or local_labels.is_complex()):
            raise HyperError(f"PartialFC: labels must be integer class ids (int64), got "
                             f"{local_labels.dtype}")
        if local_labels.shape != local_features.shape[:1] or local_features.ndim != 2:
            raise HyperError(f"PartialFC: features must be (B, D) and labels (B,), got "
                             f"{tuple(local_features.shape)} and {tuple(local_labels.shape)}")
        sampling = self.sample_rate < 1.0 and self.training
        step = int(self.sample_step) if sampling else 0
        if self.training:
            self.sample_step.add_(1)
        if self.world == 1 and not sampling:
            return self.head(local_features, local_labels)  # exactly the plain head
        x, y = self._gather(local_features, local_labels.long())
        bad = (y < 0) | (y >= self.num_classes)
        if bool(bad.any()):
            raise HyperError(f"PartialFC: labels must lie in [0, {self.num_classes}), got "
                             f"{int(y[bad][0])}")
        local = y - self.start
        mine = (local >= 0) & (local < self.num_local)
        pos_rows, neg_rows = mine.nonzero().squeeze(1), (~mine).nonzero().squeeze(1)
        pos_labels = local[pos_rows]
        classes = self.num_classes
        if sampling:
            kept = sample_centers(pos_labels.unique(), self.num_local, self.num_sample,
                                  draw_seed(self.seed, step, self.rank))
            self.last_kept = kept + self.start
            pos_target = torch.searchsorted(kept, pos_labels)  # columns among the kept
            rows = {f"head.{n}": getattr(self.head, n)[kept] for n in self._per_class}
            z_pos = functional_call(_Call(self.head, "margin_logits"), rows,
                                    (x[pos_rows], pos_target))
            z_neg = functional_call(_Call(self.head, "logits"), rows, (x[neg_rows],))
            classes = self._sum_count(kept.numel(), x.device)
        else:
            z_pos = self.head.margin_logits(x[pos_rows], pos_labels)  # once per step: A-Softmax
            z_neg = self.head.logits(x[neg_rows])
            pos_target = pos_labels
        order = torch.cat([pos_rows, neg_rows])
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        target = torch.full_like(y, -1)
        target[pos_rows] = pos_target
        with full_precision(x.device.type):
            z = torch.cat([upcast(z_pos), upcast(z_neg)])[inverse]  # (N, K), global row order
            return _ShardedCrossEntropy.apply(z, target, float(self.head.label_smoothing),
                                              classes, self.group, self.world)

    def _gather(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.world == 1:
            return x, y
        size = torch.tensor([x.shape[0]], device=x.device)
        sizes = [torch.empty_like(size) for _ in range(self.world)]
        dist.all_gather(sizes, size, group=self.group)
        counts = [int(s) for s in torch.cat(sizes).tolist()]
        # float32 on the wire (bf16 -> f32 is exact; the angular heads upcast anyway)
        return (_GatherFeatures.apply(upcast(x), counts, self.rank, float(self.world),
                                      self.group),
                _gather_rows(y, counts, self.group))

    def _sum_count(self, count: int, device: torch.device) -> int:
        if self.world == 1 or not self.head.label_smoothing:
            return count  # only label smoothing reads the total
        total = torch.tensor([count], device=device)
        dist.all_reduce(total, group=self.group)
        return int(total)

    def logs(self) -> dict[str, float]:
        """The wrapped head's scalars (e.g. the A-Softmax lambda; replicated on every rank)."""
        return self.head.logs()

    # -- whole-matrix state -----------------------------------------------------------------

    def _gather_whole(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's rows (end - start, ...) -> the whole (C, ...) from every rank."""
        if self.world == 1:
            return rows
        counts = [e - s for s, e in (shard_bounds(self.num_classes, self.world, r)
                                     for r in range(self.world))]
        return _gather_rows(rows.contiguous(), counts, self.group)

    def to_head(self) -> MarginHead:
        """A plain head (a copy of the wrapped one) holding the whole matrix: for evaluation,
        e.g. on rank 0. A collective with world > 1: call it on every rank."""
        whole = self.state_dict()
        memo = {id(getattr(self.head, n)): nn.Parameter(whole[n].clone())
                for n in self._per_class}
        head = copy.deepcopy(self.head, memo)
        head.load_state_dict(whole)
        return head

    def _optimizer_params(self, optimizer: torch.optim.Optimizer) -> dict[int, nn.Parameter]:
        """Index in ``optimizer.state_dict()["state"]`` -> this PartialFC's class parameter."""
        mine = {id(getattr(self.head, n)): getattr(self.head, n) for n in self._per_class}
        flat = [p for g in optimizer.param_groups for p in g["params"]]
        return {i: mine[id(p)] for i, p in enumerate(flat) if id(p) in mine}

    def gather_optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """``optimizer.state_dict()`` with the per-parameter state of the sharded class rows
        (SGD's ``momentum_buffer``, Adam's ``exp_avg``/``exp_avg_sq``) gathered to the whole
        (C, ...) matrix: loadable by ``load_optimizer_state`` on any number of processes, or by
        the plain ``Net``'s optimizer when its parameter order is the same (module order
        normalize, body, embed, head). A collective with world > 1: call it on every rank."""
        saved = optimizer.state_dict()
        state = dict(saved["state"])
        for index, param in self._optimizer_params(optimizer).items():
            if index in state:
                state[index] = {k: self._gather_whole(v) if torch.is_tensor(v)
                                and v.shape == param.shape else v
                                for k, v in state[index].items()}
        return {**saved, "state": state}

    def load_optimizer_state(self, optimizer: torch.optim.Optimizer,
                             saved: dict[str, Any]) -> None:
        """``optimizer.load_state_dict`` of a whole-matrix state (``gather_optimizer_state``, or
        a plain ``Net``'s optimizer with the same parameter order), taking this rank's rows."""
        state = dict(saved["state"])
        for index, param in self._optimizer_params(optimizer).items():
            if index not in state:
                continue
            entry = dict(state[index])
            for k, v in entry.items():
                if not torch.is_tensor(v) or v.ndim != param.ndim or v.ndim == 0:
                    continue
                if v.shape[0] != self.num_classes or v.shape[1:] != param.shape[1:]:
                    raise HyperError(f"PartialFC: optimizer state {k!r} of parameter {index} "
                                     f"has shape {tuple(v.shape)}, not the whole matrix "
                                     f"({self.num_classes}, ...); save it with "
                                     "gather_optimizer_state")
                entry[k] = v[self.start:self.end].clone()
            state[index] = entry
        optimizer.load_state_dict({**saved, "state": state})

    def extra_repr(self) -> str:
        return (f"rows [{self.start}, {self.end}) of {self.num_classes}, rank {self.rank} of "
                f"{self.world}, sample_rate={self.sample_rate:g}")


def _rank_and_world(rank: int | None, world: int | None, group: Any,
                    num_classes: int) -> tuple[int, int]:
    """rank and world from the arguments and the process group, checked against each other."""
    grouped = dist.is_available() and dist.is_initialized()
    g_rank, g_world = ((dist.get_rank(group), dist.get_world_size(group)) if grouped
                       else (0, 1))
    rank = g_rank if rank is None else int(rank)
    world = g_world if world is None else int(world)
    if world < 1 or not 0 <= rank < world:
        raise HyperError(f"PartialFC: rank {rank} of world {world} is not a valid rank")
    if num_classes < world:
        raise HyperError(f"PartialFC: {num_classes} classes cannot be split over {world} ranks; "
                         f"run at most {num_classes} processes")
    if world > 1 and not grouped:
        raise HyperError(f"PartialFC over {world} ranks needs an initialized process group "
                         "(torch.distributed.init_process_group, e.g. under torchrun)")
    if grouped and (rank, world) != (g_rank, g_world):
        raise HyperError(f"PartialFC: rank {rank} of {world} does not match the process group "
                         f"(rank {g_rank} of {g_world}); pass the group's rank and size")
    return rank, world


class Backbone(nn.Module):
    """normalize -> body -> embed of a ``Net``: images (B, C, H, W) in [0, 1] -> features
    (B, D). The part of a sharded ``Net`` to wrap in DistributedDataParallel."""

    def __init__(self, normalize: nn.Module, body: nn.Module, embed: nn.Module) -> None:
        super().__init__()
        self.normalize, self.body, self.embed = normalize, body, embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(self.normalize(x)))


def shard(net: nn.Module, rank: int, world: int, sample_rate: float = 1.0, seed: int = 0,
          group: Any = None) -> tuple[Backbone, PartialFC]:
    """Split a ``Net`` into its backbone (for DDP) and a ``PartialFC`` holding this rank's rows.

    The backbone shares ``net``'s normalize, body and embed modules; ``net.head`` is left
    whole and untouched (drop ``net`` to free it). Train with
    ``loss = pfc(ddp_backbone(x), y)``. ``nn.ModuleDict(dict(backbone.named_children(),
    head=pfc))`` has the plain ``Net``'s state_dict keys, shapes and parameter order (build
    the optimizer over it). world 1 needs no process group and gives exactly the head's loss.
    """
    from hypercli.models.net import Net  # here: hypercli.models imports the losses

    if not isinstance(net, Net):
        raise HyperError(f"shard splits a hypercli Net (normalize, body, embed, head), got "
                         f"{type(net).__name__}")
    pfc = PartialFC(net.head, rank, world, sample_rate, seed, group)
    return Backbone(net.normalize, net.body, net.embed), pfc


def clip_grad_norm_(parameters: Any, max_norm: float, pfc: PartialFC) -> torch.Tensor:
    """``nn.utils.clip_grad_norm_`` (L2) of single-process training: over ``parameters`` (the
    backbone's, after DDP's all-reduce: the same on every rank; ``pfc``'s own may be among
    them) and the WHOLE class matrix of ``pfc``, whose squared norm is summed over ranks, so
    every rank scales by the same factor min(1, max_norm / (norm + 1e-6)). Returns the total
    norm (scalar). A collective with world > 1. A per-rank ``clip_grad_norm_`` would instead
    scale each rank's backbone differently and let the replicas drift apart."""
    own = {id(p) for p in pfc.parameters()}
    replicated = [p.grad for p in parameters if p.grad is not None and id(p) not in own]
    sharded = [p.grad for p in pfc.parameters() if p.grad is not None]
    grads = replicated + sharded
    if not grads:
        return torch.zeros(())
    device = grads[0].device

    def squared(gs: list[torch.Tensor]) -> torch.Tensor:
        norms = [torch.linalg.vector_norm(g.detach(), 2).to(device) for g in gs]
        return torch.stack(norms).square().sum() if norms else torch.zeros((), device=device)

    shard_sq = squared(sharded)
    if pfc.world > 1:
        dist.all_reduce(shard_sq, group=pfc.group)
    total = (squared(replicated) + shard_sq).sqrt()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.to(g.device, g.dtype))
    return total
