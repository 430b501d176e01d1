"""A stored search's ``params`` read as a record and written back: the same JSON, key for key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from nextofkin.cases.info import SearchInfo, SearchParams

CALIBRATION = {"method": "gpd", "match_threshold": 0.6, "possible_threshold": 0.5, "notes": []}
SIGHTING = {
    "account_id": 3,
    "account": "b",
    "face_id": 9,
    "photo": "p.jpg",
    "similarity": 0.7,
    "score": 0.7,
}
FULL: dict[str, Any] = {
    "top": 5,
    "calibration": CALIBRATION,
    "gallery_faces": 10,
    "sightings": [SIGHTING],
}


@given(st.sets(st.sampled_from(list(FULL))))
def test_stored_params_come_back_unchanged(dropped: set[str]) -> None:
    stored = {k: v for k, v in FULL.items() if k not in dropped}
    params = SearchParams.from_json(stored)
    assert json.dumps(params.to_json()) == json.dumps(stored)
    info = SearchInfo(1, "a", datetime(2026, 1, 1, tzinfo=UTC), "m", 4, params, [], [])
    # The API serialises the record through pydantic: the same keys as the row.
    shown = TypeAdapter(SearchInfo).dump_python(info, mode="json")["params"]
    assert json.dumps(shown) == json.dumps(stored)


def test_the_record_reads_calibration_and_sightings_typed() -> None:
    info = SearchInfo(
        1, "a", datetime(2026, 1, 1, tzinfo=UTC), "m", 4, SearchParams.from_json(FULL), [], []
    )
    assert info.calibration is not None and info.calibration.match_threshold == 0.6
    assert [s.account for s in info.sightings] == ["b"]
    assert SearchParams.from_json({}).calibration is None
