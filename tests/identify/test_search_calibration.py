"""The search's calibration record reads and writes the JSON a stored search keeps, unchanged."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from nextofkin.identify.results import SearchCalibration

FULL = {
    "method": "gpd-tail",
    "match_threshold": 0.61,
    "possible_threshold": 0.52,
    "match_fpir": 0.001,
    "possible_fpir": 0.01,
    "measured_on_accounts": 812,
    "score_kind": "snorm",
    "notes": ["few samples"],
}
OPTIONAL = ["method", "match_fpir", "possible_fpir", "measured_on_accounts", "score_kind", "notes"]


@given(st.sets(st.sampled_from(OPTIONAL)))
def test_stored_json_comes_back_with_the_same_keys_in_the_same_order(dropped: set[str]) -> None:
    stored = {k: v for k, v in FULL.items() if k not in dropped}
    record = SearchCalibration.from_json(stored)
    assert json.dumps(record.to_json()) == json.dumps(stored)


def test_a_stored_sample_count_is_read_and_kept() -> None:
    record = SearchCalibration.from_json(FULL | {"samples": 40})
    assert record.samples == 40
    assert record.to_json() == FULL | {"samples": 40}
    assert SearchCalibration.from_json(FULL).samples is None


def test_keys_no_longer_known_are_dropped() -> None:
    record = SearchCalibration.from_json(FULL | {"retired": 1})
    assert record.to_json() == FULL
