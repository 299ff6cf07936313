"""The insightface and SphereFace protocols against per-fold loops written from faces.md §2.

The references below are plain Python over lists (float64), one threshold and one pair at a
time, from the protocol descriptions, not from the code under test. The embeddings hold
exact ties (distances and cosines equal to a threshold on the grid, duplicate pairs with
opposite labels) and near-ties (1e-9 from a threshold, far above rounding).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hypercli.errors import HyperError
from hypercli.registry import PROTOCOLS
from hypercli.verification.metrics import auc, contiguous_folds, eer, roc, tar_at_far
from hypercli.verification.protocols import insightface, sphereface
from tests.verification.test_drawn import brute_tar


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else list(v)


def fold_ranges(n, k):
    """Contiguous folds, the first n % k one longer (KFold without shuffle)."""
    out, start = [], 0
    for f in range(k):
        size = n // k + (1 if f < n % k else 0)
        out.append(list(range(start, start + size)))
        start += size
    return out


def pop_std(xs):
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def ref_insightface(e0, e1, same, folds):
    """faces.md: sum of image and mirror (given), L2-normalize, squared distance, 10
    contiguous folds, thresholds 0..4 step 0.01, the first best on 9 folds scores the 10th."""
    d = [sum((a - b) ** 2 for a, b in zip(unit(u), unit(v))) for u, v in zip(e0, e1)]
    thresholds = [k * 0.01 for k in range(400)]
    accs, chosen = [], []
    for test in fold_ranges(len(same), folds):
        train = [i for i in range(len(same)) if i not in test]
        best_t, best_acc = None, -1.0
        for t in thresholds:
            acc = sum((d[i] < t) == same[i] for i in train) / len(train)
            if acc > best_acc:  # strictly better: the first best is kept
                best_t, best_acc = t, acc
        accs.append(sum((d[i] < best_t) == same[i] for i in test) / len(test))
        chosen.append(best_t)
    return accs, chosen, d


def ref_sphereface(e0, e1, same, folds):
    """faces.md / evaluation.m: per fold, the mean feature of both images of the training
    pairs subtracted, L2, cosine; thresholds k/10000, accuracy counts same with score > t and
    different with score < t; the fold threshold is the mean of the tied best thresholds."""
    n, dim = len(same), len(e0[0])
    thresholds = [k / 10000 for k in range(-10000, 10001)]
    accs, chosen, oof = [], [], [None] * n
    for test in fold_ranges(n, folds):
        train = [i for i in range(n) if i not in test]
        feats = [e0[i] for i in train] + [e1[i] for i in train]
        mu = [sum(f[j] for f in feats) / len(feats) for j in range(dim)]
        s = []
        for u, v in zip(e0, e1):
            a = unit([x - m for x, m in zip(u, mu)])
            b = unit([x - m for x, m in zip(v, mu)])
            s.append(sum(x * y for x, y in zip(a, b)))

        def acc(t, idx, s=s):
            return sum((s[i] > t) if same[i] else (s[i] < t) for i in idx) / len(idx)

        train_acc = [acc(t, train) for t in thresholds]
        top = max(train_acc)
        tied = [t for t, a in zip(thresholds, train_acc) if a == top]
        best = math.fsum(tied) / len(tied)
        accs.append(acc(best, test))
        chosen.append(best)
        for i in test:
            oof[i] = s[i]
    return accs, chosen, oof


def check(result, accs, chosen, name):
    assert result["protocol"] == name
    assert result["fold_accuracies"] == pytest.approx(accs, abs=1e-15)
    assert result["fold_thresholds"] == pytest.approx(chosen, rel=1e-12, abs=1e-12)
    assert math.isclose(result["accuracy"], sum(accs) / len(accs), rel_tol=1e-12)
    assert math.isclose(result["accuracy_std"], pop_std(accs), rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(result["threshold"], sum(chosen) / len(chosen), rel_tol=1e-12,
                        abs_tol=1e-12)
    assert result["folds"] == len(accs)


def axis_pairs():
    """Integer axis vectors: normalized distances exactly 0, 2 and 4 (thresholds 0 and 2.0
    are on the grid) and duplicate pairs carrying opposite labels (tied scores)."""
    ax = [[3.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 5.0, 0], [0, 0, 0, 1.0]]
    e0, e1, same = [], [], []
    rng = np.random.default_rng(0)
    for _ in range(40):
        i, j = rng.integers(0, 4, 2)
        sign = -1.0 if rng.random() < 0.15 else 1.0
        e0.append(ax[i])
        e1.append([sign * x for x in ax[j]])
        same.append(bool(i == j) if rng.random() < 0.8 else bool(i != j))
    e0 += e0[:6]  # the same pairs again with the opposite label: exact score ties
    e1 += e1[:6]
    same += [not s for s in same[:6]]
    return e0, e1, same


def near_tie_pairs(seed=1):
    """Pairs whose normalized squared distance is a grid threshold +- 1e-9, plus random ones."""
    rng = np.random.default_rng(seed)
    e0, e1, same = [], [], []
    for _ in range(30):
        t = rng.integers(20, 380) / 100 + rng.choice([-1e-9, 1e-9])
        theta = math.acos(1 - t / 2)  # ||u - v||^2 = 2 - 2 cos(theta) = t for unit u, v
        r0, r1 = rng.uniform(0.5, 3.0, 2)
        e0.append([r0, 0.0, 0.0])
        e1.append([r1 * math.cos(theta), r1 * math.sin(theta), 0.0])
        same.append(bool(t < 1.4) if rng.random() < 0.8 else bool(t >= 1.4))
    for _ in range(14):
        u, v = rng.normal(size=3), rng.normal(size=3)
        e0.append(u.tolist())
        e1.append(v.tolist())
        same.append(bool(rng.random() < 0.5))
    return e0, e1, same


@pytest.mark.parametrize("make,folds", [(axis_pairs, 10), (near_tie_pairs, 10),
                                        (near_tie_pairs, 4)])
def test_insightface_matches_the_per_fold_loop(make, folds):
    e0, e1, same = make()
    result = insightface(np.array(e0), np.array(e1), np.array(same), folds)
    accs, chosen, d = ref_insightface(e0, e1, same, folds)
    check(result, accs, chosen, "insightface")
    norms = [math.sqrt(sum(x * x for x in v)) for v in e0 + e1]
    assert math.isclose(result["xnorm"], sum(norms) / len(norms), rel_tol=1e-12)
    assert insightface(np.array(e0), np.array(e1), np.array(same), folds,
                       xnorm=7.5)["xnorm"] == 7.5
    # over all pairs: the score is -d, and the threshold is reported as a distance
    neg = sorted(d[i] for i in range(len(d)) if not same[i])
    assert result["threshold@far=0.0001"] == pytest.approx(neg[0])  # below every impostor
    tar = sum(d[i] < neg[0] for i in range(len(d)) if same[i]) / sum(same)
    assert result["tar@far=0.0001"] == pytest.approx(tar)


def test_insightface_exact_ties_count_as_different():
    """d == t is "different" (d < t), and the FIRST best threshold is chosen."""
    e0 = [[1.0, 0.0]] * 4
    e1 = [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]]  # d = 0, 2, 2, 4
    same = [True, True, False, False]
    r = insightface(np.array(e0), np.array(e1), np.array(same), folds=2)
    # fold 0 = pairs 0, 1; trained on pairs 2 (d=2, diff) and 3 (d=4, diff): t = 0 is
    # already perfect (nothing is < 0) and is the first best
    assert r["fold_thresholds"][0] == 0.0
    assert r["fold_accuracies"][0] == 0.0  # d=0 < 0 is false: the same pair 0 is rejected
    # fold 1 = pairs 2, 3; trained on pairs 0 (d=0, same) and 1 (d=2, same): every t in
    # (2, 4) accepts both; the first on the grid is 2.01 (2.0 itself rejects d == 2)
    assert r["fold_thresholds"][1] == pytest.approx(2.01)
    assert r["fold_accuracies"][1] == 0.5  # d=2 < 2.01 accepted (wrong), d=4 rejected


@pytest.mark.parametrize("symmetric", [True, False])
def test_sphereface_matches_the_per_fold_loop(symmetric):
    rng = np.random.default_rng(2)
    if symmetric:
        # each fold holds every pair twice, once negated: every training mean is exactly 0,
        # and integer axis vectors give cosines exactly -1, 0, 1 (thresholds on the grid)
        ax = np.eye(3) * np.array([2.0, 3.0, 1.0])
        base = []
        for _ in range(3):
            i, j = rng.integers(0, 3, 2)
            base.append((ax[i], ax[j], bool(i == j) if rng.random() < 0.7 else bool(i != j)))
        base.append((ax[0], ax[1], True))  # a same pair at cosine 0 exactly
        rows = []
        for _ in range(4):  # 4 folds of 8 pairs
            rows += base + [(-u, -v, s) for u, v, s in base]
        folds = 4
    else:
        rows = []
        for _ in range(24):
            u = rng.normal(size=4) + 1.5  # off-center: the mean subtraction matters
            s = bool(rng.random() < 0.5)
            v = u + rng.normal(size=4) * (0.6 if s else 2.0)
            rows.append((u, v, s))
        rows.append(rows[0][:2] + (not rows[0][2],))  # a duplicate with the other label
        folds = 5
    e0 = [list(map(float, r[0])) for r in rows]
    e1 = [list(map(float, r[1])) for r in rows]
    same = [r[2] for r in rows]
    result = sphereface(np.array(e0), np.array(e1), np.array(same), folds)
    accs, chosen, oof = ref_sphereface(e0, e1, same, folds)
    check(result, accs, chosen, "sphereface")
    # over all pairs, each pair is scored in its own test fold
    far, tar = roc(np.array(oof), np.array(same))
    assert result["auc"] == pytest.approx(float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2)))
    if symmetric:
        assert set(np.round(oof, 12)) <= {-1.0, 0.0, 1.0}


def test_sphereface_score_on_the_threshold_is_wrong_both_ways():
    """getAccuracy: a same pair needs score > t, a different pair score < t. Same pairs at
    cosine 1 and different ones at 0 (every fold's mean exactly 0): the best thresholds are
    k/10000 for k = 1..9999 (not 0, not 1), whose mean is 0.5 exactly; counting a score
    equal to t as a match would move it to 0.50005 or 0.49995."""
    u, v = [1.0, 0.0], [0.0, 1.0]
    neg = [-1.0, -0.0], [-0.0, -1.0]
    fold = [(u, u, True), ([-1.0, 0.0], [-1.0, 0.0], True), (u, v, False), (*neg, False)]
    rows = fold * 3
    e0, e1 = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    r = sphereface(e0, e1, np.array([r[2] for r in rows]), folds=3)
    assert r["fold_thresholds"] == pytest.approx([0.5] * 3, abs=1e-12)
    assert r["fold_accuracies"] == [1.0] * 3
    # folds 0 and 1 separate only at t = 0 exactly (cosines +-3.05e-5, dyadic vectors so
    # every mean is exactly 0); fold 2 holds pairs at cosine 0: wrong on both sides
    eps = 2.0**-15
    sep = [(u, [eps, 1.0], True), ([-1.0, 0.0], [-eps, -1.0], True),
           (u, [-eps, 1.0], False), ([-1.0, 0.0], [eps, -1.0], False)]
    zero = [(u, v, True), (*neg, True), (u, v, False), (*neg, False)]
    rows = sep + sep + zero
    e0, e1 = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    r = sphereface(e0, e1, np.array([r[2] for r in rows]), folds=3)
    assert r["fold_thresholds"][2] == 0.0
    assert r["fold_accuracies"][2] == 0.0




def brute_auc(scores, same):
    pos, neg = scores[same].tolist(), scores[~same].tolist()
    total = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return total / (len(pos) * len(neg))


def test_rates_against_definitions():
    # hand-worked ROC: pos {1, 3}, neg {0, 2}: points (0,0) (0,.5) (.5,.5) (.5,1) (1,1)
    s, y = np.array([1.0, 3.0, 0.0, 2.0]), np.array([True, True, False, False])
    assert eer(s, y) == 0.5 and auc(s, y) == 0.75
    # a tie of a same and a different pair is a diagonal segment: EER 1/3, AUC 3/4
    s, y = np.array([1.0, 1.0, 1.0, 0.0]), np.array([True, True, False, False])
    assert eer(s, y) == pytest.approx(1 / 3) and auc(s, y) == 0.75
    s, y = np.array([0.9, 0.8, 0.1, 0.2]), np.array([True, True, False, False])
    assert eer(s, y) == 0.0 and auc(s, y) == 1.0
    rng = np.random.default_rng(0)
    for scores in (rng.normal(size=300), np.round(rng.normal(size=300), 1)):
        same = rng.random(300) < 0.4
        scores = scores + same
        assert auc(scores, same) == pytest.approx(brute_auc(scores, same), abs=1e-12)
        for far in (1e-3, 1e-2, 0.1):
            assert tar_at_far(scores, same, far)[0] == pytest.approx(brute_tar(scores, same, far))
        # the EER lies between the false accept and false reject rates of the two thresholds
        # around the crossing ("same" iff score >= t)
        e = eer(scores, same)
        pos, neg = scores[same], scores[~same]
        ts = sorted(set(scores.tolist()), reverse=True)
        rates_ = [(np.mean(neg >= t), np.mean(pos < t)) for t in ts]
        k = next(i for i, (fa, fr) in enumerate(rates_) if fa >= fr)
        prev, cur = rates_[k - 1] if k else (0.0, 1.0), rates_[k]
        # on the segment FAR rises prev -> cur and FRR falls prev -> cur; they meet at e
        assert max(prev[0], cur[1]) - 1e-12 <= e <= min(cur[0], prev[1]) + 1e-12


def test_contiguous_folds_and_bad_inputs():
    assert contiguous_folds(23, 10).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] + sum(
        ([f, f] for f in range(3, 10)), [])
    assert np.bincount(contiguous_folds(6000, 10)).tolist() == [600] * 10
    e = np.ones((4, 3))
    y = np.array([True, False, True, False])
    for fn in (insightface, sphereface):
        with pytest.raises(HyperError, match="folds"):
            fn(e, e, y, folds=5)
        with pytest.raises(HyperError, match="both"):
            fn(e, e, np.ones(4, bool), folds=2)
        with pytest.raises(HyperError, match="must be"):
            fn(e, e[:3], y, folds=2)
        bad = e.copy()
        bad[2, 1] = np.nan
        with pytest.raises(HyperError, match="NaN"):
            fn(bad, e, y, folds=2)


def test_registered_with_their_flip_modes():
    assert PROTOCOLS.get("insightface").flip == "sum"
    assert PROTOCOLS.get("sphereface").flip == "concat"
    with pytest.raises(HyperError, match="known: insightface, sphereface"):
        PROTOCOLS.get("lfw")
