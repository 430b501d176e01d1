"""Alerts on the dashboard, the case page and /alerts; acknowledged through the form and the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select
from web_helpers import Team, open_case

from cases.casework import photo
from gallery_rows import add_posted_face
from nextofkin import audit
from nextofkin.cases.records import Case
from nextofkin.cases.standing_records import CaseAlert
from nextofkin.gallery.records import Account


def _alert(app: FastAPI, tmp: Path) -> int:
    """A face posted by vk/olena and an alert on case C1 citing it (what a rescan writes)."""
    ws = app.state.web.workspace
    with ws.session() as s:
        olena = s.scalars(select(Account).where(Account.external_id == "olena")).one()
        face = add_posted_face(s, olena, photo(tmp / "olena.jpg"), photo_vector()).face
        case_id = s.scalars(select(Case.id).where(Case.number == "C1")).one()
        alert = CaseAlert(
            case_id=case_id, account_id=olena.id, account_ref="vk/olena", face_id=face,
            score=6.1, similarity=0.95, fpir=0.0004, decision="match",
            meaning="a stranger scores this high about 1 time in 2,500", reason="possible",
            gallery_accounts=4, raised_by="system", state="open",
        )  # fmt: skip
        s.add(alert)
        s.flush()
        return alert.id


def photo_vector() -> object:
    import numpy as np

    vector = np.ones(128, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_alerts_show_and_are_acknowledged_through_the_form(
    team: Team, app: FastAPI, tmp_path: Path
) -> None:
    open_case(team)
    alert = _alert(app, tmp_path)
    for name in ("ivan", "rita", "ada"):
        for path in ("/", "/cases/C1", "/alerts"):
            page = team[name].get(path)
            assert page.status_code == 200, (name, path)
            assert "Alerts from standing searches" in page.text and "vk/olena" in page.text
            assert f'action="/alerts/{alert}/acknowledge"' in page.text
    rita = team["rita"]
    assert rita.post(f"/alerts/{alert}/acknowledge", data={"note": "x"}).status_code == 403
    done = rita.post(
        f"/alerts/{alert}/acknowledge",
        data={"note": "same scar", "back": "case", "csrf_token": team.csrf["rita"]},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/cases/C1"
    case_page = rita.get("/cases/C1").text
    assert "acknowledged by rita: same scar" in case_page
    assert f'action="/alerts/{alert}/acknowledge"' not in case_page
    assert "vk/olena" not in team["ivan"].get("/alerts").text  # open ones only
    with app.state.web.workspace.session() as s:
        entries = audit.entries(s, case="C1")
    assert ("rita", "alert.acknowledge") in [(e.actor, e.action) for e in entries]


def test_the_api_lists_and_refuses_a_second_acknowledgement(
    team: Team, app: FastAPI, tmp_path: Path
) -> None:
    open_case(team)
    alert = _alert(app, tmp_path)
    ivan = team["ivan"]
    listed = ivan.get("/api/alerts").json()
    assert [a["id"] for a in listed] == [alert] and listed[0]["case_number"] == "C1"
    first = ivan.post(f"/api/alerts/{alert}/acknowledge", json={"note": "seen"},
                      headers=team.headers("ivan"))  # fmt: skip
    assert first.status_code == 200 and first.json()["acknowledged_by"] == "ivan"
    second = team["rob"].post(f"/api/alerts/{alert}/acknowledge", headers=team.headers("rob"))
    assert second.status_code == 409 and second.json()["error"]["type"] == "CaseStateError"
    assert ivan.get("/api/alerts").json() == []
    assert ivan.get("/api/alerts?state=acknowledged").json()[0]["note"] == "seen"
    assert ivan.get("/api/alerts/999/acknowledge").status_code == 405
