"""Open-set verification against brute force: every threshold tried, accuracies counted by loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hypercli.verification.drawn import (
    best_threshold,
    cosine_scores,
    draw_pairs,
    fold_ids,
    verification,
)
from hypercli.verification.metrics import tar_at_far


def clustered(n=300, classes=4, dim=8, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, dim))
    labels = rng.integers(0, classes, n)
    return centers[labels] + noise * rng.normal(size=(n, dim)), labels


def test_pairs_are_balanced_valid_and_seeded():
    _, labels = clustered()
    index, same = draw_pairs(labels, 601, seed=3)
    assert index.shape == (601, 2) and same.sum() == 300
    for (a, b), s in zip(index, same, strict=True):
        assert (labels[a] == labels[b]) == s
        assert a != b
    again, _ = draw_pairs(labels, 601, seed=3)
    other, _ = draw_pairs(labels, 601, seed=4)
    assert np.array_equal(index, again) and not np.array_equal(index, other)
    folds = fold_ids(same, 10)
    for f in range(10):  # each fold holds 1/10 of the same and of the different pairs
        assert abs(int(same[folds == f].sum()) - 30) <= 1
        assert abs(int((~same[folds == f]).sum()) - 30) <= 1


def brute_accuracy(train_s, train_y, test_s, test_y):
    s = sorted(set(train_s.tolist()))
    candidates = [s[0] - 1.0] + [(a + b) / 2 for a, b in zip(s, s[1:])] + [s[-1] + 1.0]
    best_t, best_acc = None, -1.0
    for t in candidates:  # ascending: the first maximum is the lowest threshold
        acc = sum((si > t) == yi for si, yi in zip(train_s, train_y)) / len(train_s)
        if acc > best_acc:
            best_t, best_acc = t, acc
    return sum((si > best_t) == yi for si, yi in zip(test_s, test_y)) / len(test_s), best_t


def brute_tar(scores, same, far):
    neg, pos = scores[~same], scores[same]
    best = 0.0
    for t in [-math.inf, *scores.tolist()]:
        if sum(n > t for n in neg) / len(neg) <= far:
            best = max(best, sum(p > t for p in pos) / len(pos))
    return best


@pytest.mark.parametrize("noise", [0.5, 2.0])
def test_verify_matches_brute_force(noise):
    emb, labels = clustered(noise=noise)
    result = verification(emb, labels, pairs=200, folds=10, far=[0.01, 0.1], seed=1)
    index, same = draw_pairs(labels, 200, seed=1)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    scores = np.array([float(e[a] @ e[b]) for a, b in index])
    np.testing.assert_allclose(cosine_scores(emb, index), scores)
    folds = fold_ids(same, 10, seed=1)
    accs, thresholds = [], []
    for f in range(10):
        acc, t = brute_accuracy(scores[folds != f], same[folds != f], scores[folds == f],
                                same[folds == f])
        accs.append(acc)
        thresholds.append(t)
    assert math.isclose(result["accuracy"], float(np.mean(accs)))
    assert math.isclose(result["accuracy_std"], float(np.std(accs)))
    assert math.isclose(result["threshold"], float(np.mean(thresholds)))
    for far in (0.01, 0.1):
        assert math.isclose(result[f"tar@far={far:g}"], brute_tar(scores, same, far))
    assert result["pairs"] == 200 and result["same_pairs"] == 100 and result["folds"] == 10


def test_threshold_is_optimal_on_a_grid_and_handles_ties():
    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=200), 1)  # many ties
    y = s + rng.normal(size=200) > 0
    t = best_threshold(s, y)
    acc = np.mean((s > t) == y)
    grid = np.linspace(-4, 4, 4001)
    assert acc >= max(np.mean((s > g) == y) for g in grid) - 1e-12
    assert best_threshold(np.array([0.1, 0.2]), np.array([True, True])) < 0.1
    assert best_threshold(np.array([0.1, 0.2]), np.array([False, False])) > 0.2
    tar, thr = tar_at_far(np.array([0.9, 0.8, 0.3, 0.2]), np.array([True, True, False, False]),
                          0.0)
    assert tar == 1.0 and thr == 0.3


def test_separable_and_random_embeddings():
    emb, labels = clustered(noise=0.01)
    perfect = verification(emb, labels, pairs=600, far=[1e-3])
    assert perfect["accuracy"] == 1.0 and perfect["tar@far=0.001"] == 1.0
    rng = np.random.default_rng(0)
    noise = verification(rng.normal(size=(2000, 16)), rng.integers(0, 5, 2000), pairs=4000)
    assert 0.45 < noise["accuracy"] < 0.56
