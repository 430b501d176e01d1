"""New alerts e-mailed to the team's own address (a real aiosmtpd server on loopback)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from cases.casework import add_team
from cases.standing_world import add_batch, batch_centres, body_probe, open_searched_case
from nextofkin import audit
from nextofkin.cases.standing import rescan
from nextofkin.cases.standing_records import CaseAlert
from nextofkin.notify.team_alerts import mail_team
from nextofkin.settings import StandingSettings
from nextofkin.workspace import Workspace
from notify.smtpd import Handler, smtp_server, use_server


def _world(ws: Workspace, tmp: Path) -> None:
    with ws.session() as session:
        add_team(session)
    add_batch(ws, "first", 200, seed=1)
    person = batch_centres(ws, 10, 5)[2]
    open_searched_case(ws, tmp, "C-7", body_probe(person, 7))
    add_batch(ws, "later", 10, seed=5)


def test_alerts_go_to_the_team_once_and_nowhere_else(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    _world(ws, tmp_path)
    ws.settings.standing = StandingSettings(email_team=True)
    ws.settings.notify.team_email = "duty@team.example"
    ws.settings.notify.team_name = "Identification Team North"
    report = rescan(ws, None, system=True)
    assert report.alerts
    with smtp_server(tmp_path) as server:
        use_server(ws, server.port)
        assert mail_team(ws, report.alerts).mailed == len(report.alerts)
        assert mail_team(ws, report.alerts).mailed == 0  # already mailed: never twice
    assert len(server.handler.received) == 1
    mail = server.handler.received[0]
    assert mail["To"] == "Identification Team North <duty@team.example>"
    body = mail.get_payload(decode=True).decode()
    assert "C-7" in body and "later/later-000002" in body and "Nothing is confirmed" in body
    with ws.session() as session:
        assert all(session.scalars(select(CaseAlert.mailed_at)).all())
        assert [e.action for e in audit.entries(session, subject_prefix="alerts")] == ["alert.mail"]


def test_no_mail_unless_asked_and_a_failed_server_leaves_alerts_unmailed(
    workspace: Workspace, tmp_path: Path
) -> None:
    ws = workspace
    _world(ws, tmp_path)
    report = rescan(ws, None, system=True)
    handler = Handler()
    with smtp_server(tmp_path, handler=handler) as server:
        use_server(ws, server.port)
        assert mail_team(ws, report.alerts).mailed == 0  # setting off (the default)
        ws.settings.standing = StandingSettings(email_team=True)
        note = mail_team(ws, report.alerts).note
        assert note is not None and "team_email" in note  # no team address: nothing sent
        ws.settings.notify.team_email = "duty@team.example"
        handler.rcpt_replies = ["550 no such mailbox"]
        outcome = mail_team(ws, report.alerts)
        assert outcome.mailed == 0 and outcome.note is not None
    assert handler.received == []
    with ws.session() as session:
        assert not any(session.scalars(select(CaseAlert.mailed_at)).all())
