"""``nextofkin kin --json`` and the API show same-face accounts with the keys they always had."""

from __future__ import annotations

import json

from nextofkin.kin.results import KinResult, SameFaceAccount


def test_same_face_accounts_keep_their_json_keys() -> None:
    result = KinResult(
        account="olga",
        account_id=1,
        source="vk",
        name=None,
        owner_faces=3,
        thresholds={},
        relations=[],
        same_face_accounts=[SameFaceAccount("olga2", 7, 0.91)],
    )
    shown = json.dumps(result.to_dict()["same_face_accounts"])
    assert shown == '[{"account": "olga2", "account_id": 7, "similarity": 0.91}]'
