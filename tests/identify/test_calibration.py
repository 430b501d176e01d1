"""Calibration: thresholds from impostor scores, FPIR estimates and what a score means."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextofkin.errors import CalibrationError
from nextofkin.identify.calibration import Calibration, Decision, calibrate
from nextofkin.settings import DecisionPolicy

POLICY = DecisionPolicy()


def impostors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.80, 0.04, n), -1.0, 1.0)


def test_thresholds_realise_the_policy_on_measured_scores() -> None:
    scores = impostors(20_000)
    cal = calibrate(scores, 5000, POLICY, method="test")
    # With 20,000 draws both targets are inside the measured range: plain quantiles.
    assert np.mean(scores >= cal.possible_threshold) == pytest.approx(POLICY.possible_fpir, 0.05)
    assert np.mean(scores >= cal.match_threshold) == pytest.approx(POLICY.match_fpir, 0.2)
    assert cal.fpir(cal.possible_threshold) == pytest.approx(POLICY.possible_fpir, 0.05)
    assert cal.decide(cal.match_threshold) is Decision.MATCH
    assert cal.decide(cal.possible_threshold) is Decision.POSSIBLE
    assert cal.decide(cal.possible_threshold - 1e-3) is Decision.NO_MATCH


def test_tail_extrapolates_beyond_the_measured_scores() -> None:
    cal = calibrate(impostors(500), 500, POLICY, method="test")
    assert any("extrapolated" in note for note in cal.notes)
    top = max(cal.scores)
    assert cal.fpir(top + 0.05) < 1 / 500
    assert "(extrapolated)" in cal.meaning(top + 0.05)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=30, max_value=3000),
    seed=st.integers(min_value=0, max_value=10_000),
    a=st.floats(min_value=0.5, max_value=1.0),
    b=st.floats(min_value=0.5, max_value=1.0),
)
def test_fpir_never_rises_with_the_score(n: int, seed: int, a: float, b: float) -> None:
    cal = calibrate(impostors(n, seed), n, POLICY, method="test")
    low, high = sorted((a, b))
    assert cal.fpir(high) <= cal.fpir(low) + 1e-12
    assert cal.match_threshold >= cal.possible_threshold


def test_fpir_grows_with_the_gallery() -> None:
    cal = calibrate(impostors(5000), 1000, POLICY, method="test")
    score = cal.possible_threshold
    assert cal.fpir(score, accounts=10_000) > cal.fpir(score) > cal.fpir(score, accounts=100)


def test_round_trip_through_the_stored_form() -> None:
    cal = calibrate(impostors(300), 300, POLICY, method="test")
    again = Calibration.from_dict(cal.to_dict())
    assert again == cal
    with pytest.raises(CalibrationError):
        Calibration.from_dict({"method": "x"})


def test_too_few_scores_need_a_fallback() -> None:
    with pytest.raises(CalibrationError, match="at least"):
        calibrate(impostors(5), 6, POLICY, method="test")
    cal = calibrate(impostors(5), 6, POLICY, method="test", fallback=(0.91, 0.93))
    assert (cal.possible_threshold, cal.match_threshold) == (0.91, 0.93)
    assert "fallback" in cal.method
    assert cal.notes and "too small" in cal.notes[0]
    assert 0.0 <= cal.fpir(0.95) <= 1.0


def test_unreachable_threshold_is_stated() -> None:
    # 30 widely spread impostor scores: the fitted tail puts FPIR 0.001 above any cosine.
    scores = np.linspace(0.6, 0.97, 30)
    cal = calibrate(scores, 30, POLICY, method="test")
    assert cal.match_threshold > 1.0
    assert any("no score can reach 'match'" in note for note in cal.notes)
    narrow = calibrate(impostors(20_000), 20_000, POLICY, method="test")
    assert not any("no score can reach" in note for note in narrow.notes)


def test_meaning_speaks_plainly() -> None:
    cal = calibrate(impostors(20_000), 20_000, POLICY, method="test")
    assert "not evidence" in cal.meaning(0.5)
    text = cal.meaning(cal.possible_threshold)
    assert text.startswith("a stranger scores this high against this gallery of 20,000 accounts")
    assert re.search(r"about 1 time in (19|20|21)$", text)
    assert "fewer than 1 time in 10,000,000" in cal.meaning(1.5)
