"""Open-set verification on drawn pairs: unseen classes, cosine similarity, k-fold accuracy.

The recipe-side protocol (``eval.verification``) for datasets without a pair list: pairs are
drawn from classes held out of training. Face sets that come with their pairs (LFW's
``pairs.txt``, insightface's ``.bin``) are scored by ``hypercli.verification.protocols``.

How SphereFace is judged (Liu et al. CVPR 2017, Sec. 4.1; Huang et al., LFW, 2007): draw
pairs of samples from classes never seen in training, half of the same class and half of
different classes; score each pair by the cosine of its two embeddings; report the 10-fold
threshold accuracy (the best threshold on 9 folds, applied to the 10th; mean ± std) and
the true accept rate at fixed false accept rates::

    result = verification(embeddings, labels, pairs=6000, folds=10, far=[1e-3, 1e-2], seed=0)
    result["accuracy"], result["accuracy_std"], result["tar@far=0.001"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hypercli.checks import require_finite
from hypercli.errors import HyperError
from hypercli.verification.metrics import tar_at_far


def draw_pairs(labels: np.ndarray, pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``pairs`` index pairs (P, 2) and same-class flags (P,): the first half same-class.

    Same pairs: a sample drawn uniformly among those whose class has at least two samples,
    its partner uniformly among the other samples of its class. Different pairs: a sample
    drawn uniformly, its partner uniformly among the samples of other classes. Seeded.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise HyperError("verification needs samples of at least two classes")
    if not (counts >= 2).any():
        raise HyperError("verification needs a class with at least two samples")
    rng = np.random.default_rng(seed)
    n_same = pairs // 2
    n_diff = pairs - n_same
    members = {c: np.flatnonzero(labels == c) for c in classes}
    pairable = np.flatnonzero(np.isin(labels, classes[counts >= 2]))
    first = rng.choice(pairable, n_same)
    same = np.empty((n_same, 2), dtype=np.int64)
    for i, a in enumerate(first):
        group = members[labels[a]]
        b = group[rng.integers(len(group) - 1)]
        same[i] = (a, b if b != a else group[-1])  # uniform over the group without a
    diff = np.empty((n_diff, 2), dtype=np.int64)
    for i, a in enumerate(rng.integers(len(labels), size=n_diff)):
        others = np.flatnonzero(labels != labels[a])
        diff[i] = (a, others[rng.integers(len(others))])
    index = np.concatenate([same, diff])
    is_same = np.concatenate([np.ones(n_same, bool), np.zeros(n_diff, bool)])
    return index, is_same


def cosine_scores(embeddings: np.ndarray, index: np.ndarray) -> np.ndarray:
    """cos of the two embeddings of each pair, float64 (P,)."""
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return np.einsum("pd,pd->p", e[index[:, 0]], e[index[:, 1]])


def fold_ids(is_same: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold of each pair: same and different pairs are shuffled separately and dealt
    round-robin, so every fold holds (nearly) the same share of each, as LFW's 10 folds."""
    rng = np.random.default_rng(seed + 1)
    out = np.empty(len(is_same), dtype=np.int64)
    for flag in (True, False):
        idx = np.flatnonzero(is_same == flag)
        out[rng.permutation(idx)] = np.arange(len(idx)) % folds
    return out


def best_threshold(scores: np.ndarray, is_same: np.ndarray) -> float:
    """The threshold t maximizing the accuracy of "same iff score > t".

    Candidates are the midpoints between consecutive distinct scores, plus one below the
    lowest and one above the highest; ties go to the lowest candidate.
    """
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], is_same[order]
    distinct = np.flatnonzero(np.diff(s) > 0)  # last index of each run of equal scores
    cut_after = np.concatenate([[-1], distinct, [len(s) - 1]])  # predicted-different prefix
    neg_cum = np.concatenate([[0], np.cumsum(~y)])
    pos_cum = np.concatenate([[0], np.cumsum(y)])
    n_pos = pos_cum[-1]
    # threshold after position c: the c+1 lowest predicted different
    correct = neg_cum[cut_after + 1] + (n_pos - pos_cum[cut_after + 1])
    best = int(np.argmax(correct))
    c = cut_after[best]
    if c < 0:
        return float(s[0] - 1.0)
    if c == len(s) - 1:
        return float(s[-1] + 1.0)
    return float((s[c] + s[c + 1]) / 2.0)


def verification(embeddings: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
                 pairs: int = 6000, folds: int = 10, far: Sequence[float] = (1e-3, 1e-2),
                 seed: int = 0) -> dict[str, Any]:
    """LFW-style verification of ``embeddings`` (N, D) with class ``labels`` (N,).

    Returns ``accuracy`` and ``accuracy_std`` (mean and population std over the folds of the
    test-fold accuracy at the threshold best on the other folds), ``fold_accuracies``,
    ``threshold`` (mean of the fold thresholds), ``tar@far=F`` and ``threshold@far=F`` for
    each F in ``far`` (over all pairs), and the counts ``pairs``, ``same_pairs``, ``folds``.
    """
    emb = embeddings.detach().cpu().double().numpy() if isinstance(embeddings, torch.Tensor) \
        else np.asarray(embeddings, dtype=np.float64)
    lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) \
        else np.asarray(labels)
    if emb.ndim != 2 or len(emb) != len(lab):
        raise HyperError(f"verification: embeddings {emb.shape} and labels {lab.shape} differ")
    if pairs < 2 * folds:
        raise HyperError(f"verification: {pairs} pairs are too few for {folds} folds")
    bad_far = [f for f in far if not 0.0 <= f <= 1.0]
    if bad_far:
        raise HyperError(f"verification: a false accept rate lies in [0, 1], got {bad_far[0]}")
    require_finite(emb, "verification: the embeddings",
                   "the model's features are not finite (check its weights)")
    index, is_same = draw_pairs(lab, pairs, seed)
    if is_same.all() or not is_same.any():
        raise HyperError("verification needs both same-class and different-class pairs")
    scores = cosine_scores(emb, index)
    fold = fold_ids(is_same, folds, seed)
    accs, thresholds = [], []
    for f in range(folds):
        train, test = fold != f, fold == f
        t = best_threshold(scores[train], is_same[train])
        accs.append(float(np.mean((scores[test] > t) == is_same[test])))
        thresholds.append(t)
    result: dict[str, Any] = {
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "threshold": float(np.mean(thresholds)),
        "fold_accuracies": accs,
        "pairs": int(len(scores)),
        "same_pairs": int(is_same.sum()),
        "folds": int(folds),
    }
    for rate in far:
        tar, t = tar_at_far(scores, is_same, rate)
        result[f"tar@far={rate:g}"] = tar
        result[f"threshold@far={rate:g}"] = t
    return result
