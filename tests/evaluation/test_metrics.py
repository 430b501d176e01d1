"""Verification and open-set metrics against hand-worked cases and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextofkin.evaluation.metrics import (
    Candidate,
    Search,
    best_threshold,
    cmc_curve,
    det_curve,
    fnir_at,
    fpir_at,
    kfold_accuracy,
    open_set,
    threshold_at_fpir,
)

scores_st = st.lists(
    st.floats(-1, 1, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
)


def test_best_threshold_separates_separable_scores() -> None:
    scores = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    same = [False, False, False, True, True, True]
    t = best_threshold(scores, same)
    assert 0.3 < t < 0.7


@given(scores_st, st.data())
@settings(max_examples=60, deadline=None)
def test_best_threshold_is_optimal(scores: list[float], data: st.DataObject) -> None:
    same = data.draw(st.lists(st.booleans(), min_size=len(scores), max_size=len(scores)))
    s, y = np.array(scores), np.array(same)
    t = best_threshold(s, y)
    acc = ((s >= t) == y).mean()
    # No threshold at any observed score (or beyond) does better.
    for cand in [*s, s.max() + 1]:
        assert acc >= ((s >= cand) == y).mean() - 1e-12


def test_kfold_uses_other_folds_and_counts_failures_wrong() -> None:
    # Fold 0 is perfectly separable at 0.5; fold 1 holds a failed pair (NaN) that must count wrong.
    scores = np.array([0.9, 0.8, 0.2, 0.1, 0.95, np.nan, 0.05, 0.15])
    same = np.array([True, True, False, False, True, True, False, False])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    res = kfold_accuracy(scores, same, folds)
    assert res.fold_accuracies == [1.0, 0.75]
    assert res.failed_pairs == 1
    assert res.mean == pytest.approx(0.875)
    # Fold 1's threshold was chosen on fold 0 only.
    assert 0.2 < res.fold_thresholds[1] < 0.8


def test_kfold_threshold_not_tuned_on_test_fold() -> None:
    # Fold 1 alone would be perfect at 0.55, but fold 0 teaches a threshold near 0.3.
    scores = np.array([0.4, 0.45, 0.2, 0.1, 0.6, 0.65, 0.5, 0.45])
    same = np.array([True, True, False, False, True, True, False, False])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    res = kfold_accuracy(scores, same, folds)
    assert res.fold_accuracies[1] == 0.5


def _search(mate: str | None, *cands: tuple[str, float]) -> Search:
    return Search("p", mate, [Candidate(a, s) for a, s in cands])


def test_open_set_hand_worked() -> None:
    searches = [
        _search("a", ("a", 0.9), ("b", 0.5)),  # rank 1, high
        _search("b", ("a", 0.8), ("b", 0.7)),  # rank 2
        _search("c", ("c", 0.4)),  # rank 1, low
        Search("p", "d", [], error="no face found"),  # failure: miss
        _search(None, ("a", 0.6)),
        _search(None, ("b", 0.3)),
        _search(None, ("c", 0.5)),
        _search(None, ("a", 0.2)),
        Search("p", None, [], error="no face found"),  # correct rejection
    ]
    res = open_set(searches, fpirs=(0.2, 0.4))
    assert res.mated_searches == 4 and res.nonmated_searches == 5
    assert res.rank1 == 0.5
    assert res.cmc[1] == 0.75
    assert res.mated_failures == 1 and res.nonmated_failures == 1
    # FPIR 0.2 of 5 non-mated: one may pass, so T is just above the 2nd highest (0.5).
    op = res.operating_points[0]
    assert op.threshold > 0.5 and op.threshold < 0.5001
    assert op.fpir == pytest.approx(0.2)
    # Only 'a' at 0.9 passes: FNIR = 3/4.
    assert op.fnir == pytest.approx(0.75)
    op2 = res.operating_points[1]  # two may pass: T just above 0.3
    assert op2.fpir == pytest.approx(0.4)
    assert op2.fnir == pytest.approx(0.5)


@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=80),
    st.floats(0.0001, 0.999),
)
@settings(max_examples=80, deadline=None)
def test_threshold_at_fpir_is_lowest_admissible(nonmated: list[float], target: float) -> None:
    t = threshold_at_fpir(nonmated, target)
    assert fpir_at(nonmated, t) <= target + 1e-12
    # Any observed score below t would exceed the target (t is the lowest admissible threshold).
    lower = [s for s in nonmated if s < t]
    if lower:
        assert fpir_at(nonmated, max(lower)) > target


@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=50),
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=50),
)
@settings(max_examples=60, deadline=None)
def test_det_curve_monotone(mated: list[float], nonmated: list[float]) -> None:
    det = det_curve(mated, nonmated)
    assert all(a >= b for a, b in zip(det.fpir, det.fpir[1:], strict=False))
    assert all(a <= b for a, b in zip(det.fnir, det.fnir[1:], strict=False))
    for t, fp, fn in zip(det.thresholds, det.fpir, det.fnir, strict=True):
        assert fp == pytest.approx(fpir_at(nonmated, t))
        assert fn == pytest.approx(fnir_at(mated, t))


def test_cmc_counts_missing_mates_as_beyond_every_rank() -> None:
    searches = [_search("a", ("b", 0.9)), _search("a", ("a", 0.9))]
    curve = cmc_curve(searches, max_rank=3)
    assert curve == [0.5, 0.5, 0.5]


def test_threshold_with_no_nonmated_accepts_everything() -> None:
    assert threshold_at_fpir([], 0.01) == -math.inf
