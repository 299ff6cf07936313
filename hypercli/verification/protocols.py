"""The two verification protocols of the field, as their authors run them, and named.

A verification accuracy means nothing without its protocol (faces.md §2): the same
embeddings give different numbers under insightface's and SphereFace's evaluators. Both take
the raw embeddings of each pair's two images, ``emb0`` and ``emb1`` (P, D), the same flags
``issame`` (P,) and the number of contiguous folds (``metrics.contiguous_folds``), and return
a dict of plain floats and lists::

    r = insightface(emb0, emb1, issame)          # emb: image + mirror summed (flip "sum")
    r = sphereface(emb0, emb1, issame)           # emb: [image, mirror] (flip "concat")
    r["accuracy"], r["accuracy_std"], r["threshold"], r["xnorm"], r["tar@far=0.001"]

Both report the mean and population standard deviation of the fold accuracies, the mean of
the fold thresholds, per-fold accuracies and thresholds, XNorm, and over all pairs
TAR@FAR = 1e-3 and 1e-4, EER and ROC AUC (``metrics.rates``). Counts are integers and every
score float64. ``PROTOCOLS`` (``hypercli.registry``) holds them with the flip mode each
needs from ``hypercli.engine.embed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hypercli.checks import require_finite
from hypercli.errors import HyperError
from hypercli.registry import PROTOCOLS
from hypercli.verification.metrics import contiguous_folds, rates

# insightface: np.arange(0, 4, 0.01), i.e. k * 0.01 for k = 0..399
INSIGHTFACE_THRESHOLDS = np.arange(0, 4, 0.01)
# SphereFace: (-thrNum:thrNum) / thrNum with thrNum = 10000, i.e. k / 10000 for k = -10000..10000
SPHEREFACE_THRESHOLDS = np.arange(-10000, 10001) / 10000.0
FARS = (1e-3, 1e-4)
# the protocol a set is scored by when none is asked for: the evaluator its format was made
# for (insightface reads its .bin packs; SphereFace's evaluation.m reads LFW's pairs.txt);
# pair lists get insightface's, the 10-fold protocol most numbers are published under
OWN_PROTOCOL = {"bin": "insightface", "pairs.txt": "sphereface", "pair-list": "insightface"}


def _inputs(emb0: Any, emb1: Any, issame: Any, folds: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    e0 = np.asarray(emb0, dtype=np.float64)
    e1 = np.asarray(emb1, dtype=np.float64)
    y = np.asarray(issame, dtype=bool)
    if e0.ndim != 2 or e0.shape != e1.shape or y.shape != (len(e0),):
        raise HyperError(f"verification: embeddings {e0.shape} and {e1.shape} and same flags "
                         f"{y.shape} must be (P, D), (P, D) and (P,)")
    if y.all() or not y.any():
        raise HyperError("verification needs both same-identity and different-identity pairs")
    for e in (e0, e1):
        require_finite(e, "verification: the embeddings",
                       "the model's features are not finite (check its weights)")
    return e0, e1, y, contiguous_folds(len(y), folds)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm, float64; an all-zero row stays zero (scikit-learn's
    ``preprocessing.normalize``, which insightface calls)."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1.0, n)


def _xnorm(e0: np.ndarray, e1: np.ndarray, xnorm: float | None) -> float:
    if xnorm is not None:
        return float(xnorm)
    return float(np.mean(np.linalg.norm(np.concatenate([e0, e1]), axis=1)))


def _count_below(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """count(values < t) for each t (integers, exact)."""
    return np.searchsorted(np.sort(values), t, side="left")


def _count_above(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """count(values > t) for each t."""
    return len(values) - np.searchsorted(np.sort(values), t, side="right")


def insightface(emb0: np.ndarray, emb1: np.ndarray, issame: np.ndarray, folds: int = 10,
                xnorm: float | None = None) -> dict[str, Any]:
    """insightface's verification protocol (``recognition/arcface_torch/eval/verification.py``:
    ``test``, ``evaluate``, ``calculate_roc``, ``calculate_accuracy``).

    ``emb0``, ``emb1``: (P, D) raw embeddings of each pair's images, each the sum of the
    image's and its mirror's (``embed(flip="sum")``). They are L2-normalized (float64) and a
    pair scored by the squared Euclidean distance d = ||e0 - e1||^2 in [0, 4]; "same" iff
    d < t. Folds are contiguous (``KFold(n_splits=folds, shuffle=False)``); in each, the
    threshold t of ``np.arange(0, 4, 0.01)`` with the best accuracy on the other folds
    (the first one on ties, ``np.argmax``) scores the held-out fold. ``accuracy`` and
    ``accuracy_std`` are the mean and population std (``np.std``) of the fold accuracies,
    ``threshold`` the mean of the chosen thresholds (a distance).

    ``xnorm``: insightface's XNorm, the mean L2 norm of the raw embeddings of every image
    and of every mirror, each taken alone (``test()`` averages over both un-summed lists);
    ``verify`` passes it. Without it, the mean norm of the rows of ``emb0`` and ``emb1`` as
    given. Over all pairs (score -d): ``tar@far=F`` with ``threshold@far=F`` (a distance,
    "same" iff d < it), ``eer``, ``auc``. Raises ``HyperError`` for mismatched shapes,
    non-finite embeddings, fewer than 2 or more than P folds, or one-class pairs."""
    e0, e1, y, fold = _inputs(emb0, emb1, issame, folds)
    d = np.sum(np.square(l2_normalize(e0) - l2_normalize(e1)), axis=1)
    t = INSIGHTFACE_THRESHOLDS
    accs, thresholds = [], []
    for k in range(folds):
        train, test = fold != k, fold == k
        correct = _count_below(d[train & y], t) + (train & ~y).sum() - _count_below(
            d[train & ~y], t)  # same with d < t, different with d >= t
        best = float(t[int(np.argmax(correct))])
        accs.append(float(np.mean((d[test] < best) == y[test])))
        thresholds.append(best)
    out = _summary("insightface", accs, thresholds, _xnorm(e0, e1, xnorm), y)
    shared = rates(-d, y, FARS)
    for rate in FARS:  # back from the score -d to a distance
        shared[f"threshold@far={rate:g}"] = -shared[f"threshold@far={rate:g}"]
    out.update(shared)
    return out


def sphereface(emb0: np.ndarray, emb1: np.ndarray, issame: np.ndarray, folds: int = 10,
               xnorm: float | None = None) -> dict[str, Any]:
    """SphereFace's verification protocol, as the authors' MATLAB evaluator runs it
    (wy1iu/sphereface ``test/code/evaluation.m``: the fold loop, ``getThreshold``,
    ``getAccuracy``; Liu et al., CVPR 2017, Sec. 4.1).

    ``emb0``, ``emb1``: (P, D) raw embeddings of each pair's images, each the image's and its
    mirror's concatenated (``embed(flip="concat")``). Folds are contiguous blocks (the
    authors: ``fold = ceil(i / 600)`` over LFW's 6000 pairs). For each fold: mu = the mean
    of the features of both images of every pair in the other folds; all features minus mu,
    L2-normalized (float64); score = their cosine. On the other folds every threshold
    k / 10000, k = -10000..10000, is tried with accuracy (#same with score > t + #different
    with score < t) / n: a score equal to t counts as wrong on both sides, as in
    ``getAccuracy``; the fold's threshold is the mean of all thresholds tied at the best
    accuracy. ``accuracy`` is the mean of the fold accuracies (the authors print only it);
    ``accuracy_std`` the population std, as insightface and the PyTorch port
    (clcarwin/sphereface_pytorch ``lfw_eval.py``, ``np.std``) report it. That port differs
    from the authors: no mean subtraction, the unflipped features only, thresholds
    -1..1 step 0.005 and the last best one; this function follows the authors.

    ``xnorm``: as in ``insightface`` (``verify`` passes the mean norm of the un-combined
    image and mirror embeddings). Over all pairs, each pair scored in its own test fold (mu
    of the other folds): ``tar@far=F`` with ``threshold@far=F`` (a cosine, "same" iff score >
    it), ``eer``, ``auc``. Raises ``HyperError`` as ``insightface``."""
    e0, e1, y, fold = _inputs(emb0, emb1, issame, folds)
    t = SPHEREFACE_THRESHOLDS
    scores = np.empty(len(y))
    accs, thresholds = [], []
    for k in range(folds):
        train, test = fold != k, fold == k
        mu = np.mean(np.concatenate([e0[train], e1[train]]), axis=0)
        s = np.sum(l2_normalize(e0 - mu) * l2_normalize(e1 - mu), axis=1)
        correct = _count_above(s[train & y], t) + _count_below(s[train & ~y], t)
        best = float(np.mean(t[correct == correct.max()]))
        st, yt = s[test], y[test]
        accs.append(float((np.sum(st[yt] > best) + np.sum(st[~yt] < best)) / len(st)))
        thresholds.append(best)
        scores[test] = st
    out = _summary("sphereface", accs, thresholds, _xnorm(e0, e1, xnorm), y)
    out.update(rates(scores, y, FARS))
    return out


def _summary(name: str, accs: list[float], thresholds: list[float], xnorm: float,
             y: np.ndarray) -> dict[str, Any]:
    return {"protocol": name,
            "accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "threshold": float(np.mean(thresholds)), "xnorm": xnorm,
            "fold_accuracies": accs, "fold_thresholds": thresholds,
            "pairs": int(len(y)), "same_pairs": int(y.sum()), "folds": len(accs)}


def own_protocol(fmt: str) -> str:
    """The protocol of a set's format (``OWN_PROTOCOL``); ``insightface`` for any other."""
    return OWN_PROTOCOL.get(fmt, "insightface")


@dataclass(frozen=True)
class Protocol:
    """A registered protocol: ``flip``, how ``hypercli.engine.embed`` combines an image with
    its mirror for it, and ``evaluate(emb0, emb1, issame, folds, xnorm)`` -> dict."""

    name: str
    flip: str
    evaluate: Callable[..., dict[str, Any]]

    def __call__(self, emb0: np.ndarray, emb1: np.ndarray, issame: np.ndarray,
                 folds: int = 10, xnorm: float | None = None) -> dict[str, Any]:
        return self.evaluate(emb0, emb1, issame, folds, xnorm)


PROTOCOLS.register("insightface", help="mirror summed, L2, squared distance, thresholds 0..4 "
                   "step 0.01 (first best), 10 contiguous folds; XNorm (insightface)")(
    Protocol("insightface", "sum", insightface))
PROTOCOLS.register("sphereface", help="mirror concatenated, minus the 9-fold mean, cosine, "
                   "thresholds -1..1 step 1e-4 (mean of the best), 10 folds (evaluation.m)")(
    Protocol("sphereface", "concat", sphereface))
