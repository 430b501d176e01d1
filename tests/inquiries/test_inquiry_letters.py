"""A family's inquirer is written to only through a confirmed link, once, over real SMTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from inquiries.inquirywork import VectorAnalyser
from inquiries.test_inquiries import POLICY, _linked, faces, team  # noqa: F401 - fixtures
from nextofkin.cases.inquiry_records import InquiryLink
from nextofkin.cases.review import Verdict
from nextofkin.errors import CaseStateError, PolicyViolation
from nextofkin.inquiries.purge import purge_inquiry
from nextofkin.inquiries.review import review_link
from nextofkin.notify.inquirers import draft_for_inquirer
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.service import send
from nextofkin.workspace import Workspace
from notify.smtpd import smtp_server, use_server


@pytest.fixture
def letters(team: Workspace) -> Workspace:  # noqa: F811 - the imported fixture, extended
    team.settings.notify.team_name = "Identification Team North"
    team.settings.notify.team_phone = "+380 44 000 00 00"
    team.settings.notify.backoff_seconds = 0.01
    return team


def test_no_letter_without_a_confirmed_link(
    letters: Workspace,
    tmp_path: Path,
    faces: VectorAnalyser,  # noqa: F811
) -> None:
    _linked(letters, tmp_path, faces)
    with letters.session() as s, pytest.raises(PolicyViolation, match="no confirmed inquiry link"):
        draft_for_inquirer(s, letters, "ivan", "K-1")


def test_the_inquirer_gets_one_letter_and_never_after_the_link_is_withdrawn(
    letters: Workspace,
    tmp_path: Path,
    faces: VectorAnalyser,  # noqa: F811
) -> None:
    inquiry, link = _linked(letters, tmp_path, faces)
    with letters.session() as s:
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)
    with letters.session() as s:
        info = draft_for_inquirer(s, letters, "ivan", "K-1")
        assert info.state == "draft"
    # A later decision on the link voids the draft; sending it is refused by the database too.
    with letters.session() as s:
        review_link(s, POLICY, "rob", link, Verdict.REJECT, reason="other scar")
    with letters.session() as s:
        row = s.scalars(select(OutboxMessage)).one()
        assert row.state == "void"
    with pytest.raises(DBAPIError, match="confirmed link"), letters.session() as s:
        s.execute(text("UPDATE outbox SET state = 'approved'"))
    with letters.session() as s, pytest.raises(PolicyViolation):
        draft_for_inquirer(s, letters, "ivan", "K-1")
    # Confirmed again by two decisions, drafted again: sent once, over SMTP on loopback.
    with letters.session() as s:
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)
    with letters.session() as s:
        draft_for_inquirer(s, letters, "ivan", "K-1")
    with smtp_server(tmp_path) as server:
        use_server(letters, server.port)
        (outcome,) = send(letters, "rita", "K-1")
        assert outcome.sent_now and outcome.recipient == f"inquiry:{inquiry}"
        assert [m["To"] for m in server.handler.received] == ["Halyna Bondar <mother@example.org>"]
        again = send(letters, "rita", "K-1")
        assert [o.sent_now for o in again] == [False] and len(server.handler.received) == 1
    with letters.session() as s:
        assert draft_for_inquirer(s, letters, "ivan", "K-1").state == "sent"
    # Once the family may have read it, the link's decision stands.
    with pytest.raises(CaseStateError), letters.session() as s:
        review_link(s, POLICY, "rob", link, Verdict.REJECT)
    # The family withdraws: the letter keeps its state (at most once) and loses its content.
    purge_inquiry(letters, "ina", inquiry)
    with letters.session() as s:
        row = s.scalars(select(OutboxMessage)).one()
        assert (row.state, row.address, row.recipient_name) == ("sent", None, None)
        assert "Bondar" not in row.body
        logged = s.execute(text("SELECT count(*) FROM audit_log WHERE details LIKE '%mother@%'"))
        assert logged.scalar() == 0


def test_a_letter_under_a_withdrawn_link_is_not_sent_when_another_link_is_confirmed(
    letters: Workspace,
    tmp_path: Path,
    faces: VectorAnalyser,  # noqa: F811
) -> None:
    from inquiries.inquirywork import near, unit
    from inquiries.test_inquiries import file, sweep

    first, link = _linked(letters, tmp_path, faces)
    second = file(letters, tmp_path, faces, "ina", near(unit(1), 7), seed=17)
    sweep(letters, faces)
    with letters.session() as s:
        other = s.scalars(select(InquiryLink.id).where(InquiryLink.inquiry_id == second)).one()
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)
    with letters.session() as s:
        draft_for_inquirer(s, letters, "ivan", "K-1")
    with letters.session() as s:
        review_link(s, POLICY, "rob", link, Verdict.REJECT)
    with letters.session() as s:
        review_link(s, POLICY, "rob", other, Verdict.CONFIRM)
    with smtp_server(tmp_path) as server:
        use_server(letters, server.port)
        outcomes = send(letters, "rita", "K-1")
        assert [(o.recipient, o.sent_now) for o in outcomes] == [(f"inquiry:{first}", False)]
        assert server.handler.received == []
