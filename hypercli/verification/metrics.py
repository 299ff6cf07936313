"""Verification metrics over scored pairs: contiguous folds, TAR@FAR, the ROC, EER and AUC.

Every protocol (``protocols.py``, ``drawn.py``) scores a pair so that a higher score means
"more likely the same identity" and shares these definitions. They are written from their
definitions, in float64 and integer counts (a few lines each), rather than taken from
scikit-learn, which is no dependency of hyper and would be one only for these::

    tar, t = tar_at_far(scores, issame, 1e-3)     # TAR at the threshold with FAR <= 1e-3
    far, tar = roc(scores, issame)                # the ROC polyline, (0, 0) to (1, 1)
    eer(scores, issame), auc(scores, issame)
"""

from __future__ import annotations

import numpy as np

from hypercli.errors import HyperError


def contiguous_folds(n: int, folds: int) -> np.ndarray:
    """The fold of each of ``n`` pairs, (n,) int64: ``folds`` contiguous blocks in order, the
    first ``n % folds`` one pair longer (scikit-learn's ``KFold(shuffle=False)``, which
    insightface's evaluator uses; for LFW's 6000 pairs and ``pairs.txt``'s layout, fold k is
    the k-th block of 600). Raises ``HyperError`` unless ``2 <= folds <= n``."""
    if not 2 <= folds <= n:
        raise HyperError(f"{folds} folds over {n} pairs: use 2 to {max(n, 2)} folds")
    sizes = np.full(folds, n // folds)
    sizes[: n % folds] += 1
    return np.repeat(np.arange(folds), sizes)


def _split(scores: np.ndarray, issame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(issame, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise HyperError(f"scores {s.shape} and same-flags {y.shape} must be one per pair")
    if y.all() or not y.any():
        raise HyperError("verification needs both same-identity and different-identity pairs")
    return s[y], s[~y]


def tar_at_far(scores: np.ndarray, issame: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold): the true accept rate P(score > t | same) at the lowest threshold t
    whose false accept rate P(score > t | different) is at most ``far``; t is a
    different-pair score (``-inf`` when ``far`` admits every different pair).

    Only thresholds that are attained count, so at 1e-4 with 3000 different pairs t is the
    highest different-pair score (no interpolation, unlike insightface's VAL@FAR)."""
    pos, neg = _split(scores, issame)
    neg = np.sort(neg)[::-1]  # descending
    allowed = int(np.floor(far * len(neg) + 1e-9))
    t = -np.inf if allowed >= len(neg) else float(neg[allowed])
    return float(np.mean(pos > t)), t


def roc(scores: np.ndarray, issame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ROC as a polyline: (FAR, TAR) float64 arrays, one point per distinct score t
    ("same" iff score >= t) in decreasing t, from (0, 0) to (1, 1). Tied scores are one
    point, so a tie of same and different pairs is a diagonal segment."""
    pos, neg = _split(scores, issame)
    t = np.unique(np.concatenate([pos, neg]))[::-1]  # distinct, descending
    pos_s, neg_s = np.sort(pos), np.sort(neg)
    tp = len(pos) - np.searchsorted(pos_s, t, side="left")  # count(pos >= t)
    fp = len(neg) - np.searchsorted(neg_s, t, side="left")
    far = np.concatenate([[0.0], fp / len(neg)])
    tar = np.concatenate([[0.0], tp / len(pos)])
    return far, tar


def eer(scores: np.ndarray, issame: np.ndarray) -> float:
    """The equal error rate: the false accept rate where the ROC polyline (``roc``, linear
    between its points) meets FAR = 1 - TAR (false accepts = false rejects), as opensphere
    finds it (a root of 1 - x - ROC(x) on the interpolated curve)."""
    far, tar = roc(scores, issame)
    g = far + tar  # rises from 0 to 2 along the curve; the EER point has g = 1
    k = int(np.searchsorted(g, 1.0, side="left"))  # first point with g >= 1
    if g[k] == 1.0:  # k >= 1: g[0] = 0
        return float(far[k])
    w = (1.0 - g[k - 1]) / (g[k] - g[k - 1])
    return float(far[k - 1] + w * (far[k] - far[k - 1]))


def auc(scores: np.ndarray, issame: np.ndarray) -> float:
    """The area under the ROC polyline (trapezoids): P(s_same > s_diff) + P(s_same = s_diff)/2
    over all (same, different) pairs of pairs (the Mann-Whitney statistic)."""
    far, tar = roc(scores, issame)
    return float(np.sum((far[1:] - far[:-1]) * (tar[1:] + tar[:-1]) / 2.0))


def rates(scores: np.ndarray, issame: np.ndarray, far: tuple[float, ...] = (1e-3, 1e-4)
          ) -> dict[str, float]:
    """``tar@far=F`` and ``threshold@far=F`` for each F in ``far``, ``eer`` and ``auc``,
    over all pairs, as plain floats (the part of the result every protocol shares)."""
    bad = [f for f in far if not 0.0 <= f <= 1.0]
    if bad:
        raise HyperError(f"a false accept rate lies in [0, 1], got {bad[0]}")
    out: dict[str, float] = {}
    for rate in far:
        tar, t = tar_at_far(scores, issame, rate)
        out[f"tar@far={rate:g}"] = tar
        out[f"threshold@far={rate:g}"] = t
    out["eer"] = eer(scores, issame)
    out["auc"] = auc(scores, issame)
    return out
