"""Standing searches: cases searched again against the faces each ingest adds, and alerts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from cases.casework import add_team
from cases.standing_world import add_batch, batch_centres, body_probe, open_searched_case
from nextofkin import audit
from nextofkin.cases.alerts import AlertState, acknowledge, list_alerts
from nextofkin.cases.service import close_case
from nextofkin.cases.standing import rescan
from nextofkin.cases.standing_records import CaseAlert, CaseProbe
from nextofkin.errors import Busy, CaseStateError, PermissionDenied
from nextofkin.gallery.ingest import ingest_lock_path
from nextofkin.processes import exclusive_lock
from nextofkin.reports import write_report
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace

LATER = 7  # the seed of the batch that brings the people of the cases


@pytest.fixture
def world(workspace: Workspace, tmp_path: Path) -> Workspace:
    """A gallery of 200 accounts; cases 1-3 for people of the later batch, case 0 for no one
    in any batch; every case searched before the later batch arrives."""
    with workspace.session() as session:
        add_team(session)
    add_batch(workspace, "first", 200, seed=1)
    people = batch_centres(workspace, 40, LATER)
    for i in (1, 2, 3):
        open_searched_case(workspace, tmp_path, f"C-{i}", body_probe(people[i], i))
    stranger = batch_centres(workspace, 1, 999)[0]
    open_searched_case(workspace, tmp_path, "C-0", body_probe(stranger, 0))
    return workspace


def _alerted(ws: Workspace) -> dict[str, set[str]]:
    with ws.session() as session:
        alerts = list_alerts(session, "ivan", state=None)
    out: dict[str, set[str]] = {}
    for alert in alerts:
        out.setdefault(alert.case_number, set()).add(alert.account_ref)
    return out


def test_a_search_keeps_the_probe_and_the_watermark(world: Workspace) -> None:
    with world.session() as session:
        probes = session.scalars(select(CaseProbe)).all()
        top_face = max(session.scalars(select(CaseProbe.watermark)).all())
    assert len(probes) == 4
    dim = default_registry().embedder(world.settings.vision.embedder).spec.dim
    assert all(p.vector.shape == (dim,) for p in probes)
    assert top_face == 600  # 200 accounts x 3 faces, all in the index the searches used


def test_the_batch_that_brings_the_person_raises_the_alert(world: Workspace) -> None:
    assert rescan(world, "ivan").alerts == []  # nothing new yet
    add_batch(world, "later", 40, seed=LATER)
    report = rescan(world, None, system=True)
    assert report.cases == 4
    assert report.faces_compared == 120
    alerted = _alerted(world)
    for i in (1, 2, 3):
        assert f"later/later-{i:06d}" in alerted.get(f"C-{i}", set())
    assert all(a.raised_by == "system" for a in report.alerts)
    # The watermarks moved: a second rescan compares nothing and raises nothing.
    again = rescan(world, "ivan")
    assert (again.faces_compared, again.alerts) == (0, [])


def test_alerts_are_audited_and_acknowledged_once_by_a_named_user(world: Workspace) -> None:
    add_batch(world, "later", 40, seed=LATER)
    alert = rescan(world, None, system=True).alerts[0]
    with world.session() as session:
        done = acknowledge(session, "rita", alert.id, note="looked: same tattoo")
    assert (done.state, done.acknowledged_by) == (AlertState.ACKNOWLEDGED, "rita")
    with world.session() as session, pytest.raises(CaseStateError):
        acknowledge(session, "rob", alert.id)
    with world.session() as session:
        actions = [e.action for e in audit.entries(session, case=alert.case_number)]
        assert "alert.raise" in actions and "alert.acknowledge" in actions
        assert [a.id for a in list_alerts(session, "ivan")] == [
            a.id for a in list_alerts(session, "ivan", state=None) if a.id != alert.id
        ]
    # The database itself keeps it acknowledged, by the same user.
    with pytest.raises(DBAPIError), world.session() as session:
        session.execute(update(CaseAlert).where(CaseAlert.id == alert.id).values(state="open"))
    with pytest.raises(DBAPIError), world.session() as session:
        session.execute(
            update(CaseAlert).where(CaseAlert.id == alert.id).values(acknowledged_by="rob")
        )


def test_closed_cases_are_never_rescanned_nor_alerted(world: Workspace) -> None:
    with world.session() as session:
        close_case(session, "ada", "C-1", reason="buried unidentified")
    add_batch(world, "later", 40, seed=LATER)
    report = rescan(world, None, system=True)
    assert report.cases == 3
    assert "C-1" not in _alerted(world)
    with world.session() as session:
        face = session.scalars(select(CaseAlert.face_id)).first()
        case_id = session.scalar(select(CaseProbe.case_id).order_by(CaseProbe.case_id))
    with pytest.raises(DBAPIError), world.session() as session:
        session.add(_alert_row(case_id, face or 1))


def test_an_alert_never_cites_a_face_that_is_not_in_the_gallery(world: Workspace) -> None:
    with world.session() as session:
        case_id = session.scalar(select(CaseProbe.case_id).order_by(CaseProbe.case_id.desc()))
    with pytest.raises(DBAPIError), world.session() as session:
        session.add(_alert_row(case_id, 10**9))


def test_on_demand_rescans_and_acknowledging_need_a_known_user(world: Workspace) -> None:
    with pytest.raises(PermissionDenied):
        rescan(world, "nobody")
    add_batch(world, "later", 40, seed=LATER)
    alert = rescan(world, None, system=True).alerts[0]
    with world.session() as session, pytest.raises(PermissionDenied):
        acknowledge(session, None, alert.id)


def test_a_rescan_waits_for_no_ingest(world: Workspace) -> None:
    with exclusive_lock(ingest_lock_path(world), "an ingest"), pytest.raises(Busy):
        rescan(world, "ivan")


def _alert_row(case_id: int, face_id: int) -> CaseAlert:
    return CaseAlert(
        case_id=case_id,
        account_id=1,
        account_ref="first/first-000001",
        face_id=face_id,
        score=9.0,
        similarity=0.9,
        fpir=0.0001,
        decision="match",
        meaning="-",
        reason="possible",
        gallery_accounts=1,
        raised_by="test",
        state="open",
    )


def test_the_case_report_lists_the_case_alerts(world: Workspace, tmp_path: Path) -> None:
    add_batch(world, "later", 40, seed=LATER)
    alert = next(a for a in rescan(world, None, system=True).alerts if a.case_number == "C-2")
    with world.session() as session:
        acknowledge(session, "rita", alert.id, note="called the bureau")
    html = write_report(world, "ivan", "C-2", "html", tmp_path / "r.html").read_text()
    assert "Alerts from standing searches" in html
    assert alert.account_ref in html and "acknowledged by rita: called the bureau" in html
