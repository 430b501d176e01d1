"""Never the wrong family: a message goes out only for the case's current identification.

Each test is one reproduction from the trust review (issue 12, items 1, 2, 4, 5 and 12), driven
through the services with a real SMTP server on loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from cases.casework import candidate, result
from nextofkin.cases.records import Identification
from nextofkin.cases.review import review
from nextofkin.cases.service import CaseState, attach_search, case_info
from nextofkin.errors import CaseStateError, ConfigError, InputError, PolicyViolation
from nextofkin.gallery.records import Account, Source
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.service import OutboxState, draft, outbox, send
from nextofkin.notify.smtp import OutgoingMessage, build_email
from nextofkin.users.service import add_user
from nextofkin.workspace import Workspace
from notify.smtpd import smtp_server, use_server


def add_account(ws: Workspace, external: str, name: str, email: str) -> int:
    with ws.session() as s:
        source = s.query(Source).filter_by(name="vk").one()
        account = Account(
            source_id=source.id,
            external_id=external,
            name=name,
            url=None,
            contacts={"email": email},
            friends=[],
            extra={},
        )
        s.add(account)
        s.flush()
        return account.id


@pytest.fixture
def two_candidates(ws: Workspace) -> Workspace:
    """Case C1 searched again by ivan: olena (match) and taras (match) are both candidates."""
    taras = add_account(ws, "taras", "Taras Bondar", "taras@example.org")
    with ws.session() as s:
        attach_search(
            s,
            ws,
            "ivan",
            "C1",
            result(
                [],
                [candidate(1, "olena", 0.93, "match"), candidate(taras, "taras", 0.91, "match")],
            ),
        )
    return ws


def test_drafts_for_a_withdrawn_identification_are_never_sent(
    two_candidates: Workspace, tmp_path: Path
) -> None:
    ws = two_candidates
    with ws.session() as s:
        review(s, ws.settings.review, "rita", "C1", "vk/olena", "confirm")
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["vk/maria", "vk/taras"])
    with ws.session() as s:
        review(s, ws.settings.review, "rob", "C1", "vk/olena", "reject", reason="tattoo differs")
        review(s, ws.settings.review, "rob", "C1", "vk/taras", "confirm")
    with smtp_server(tmp_path) as server:
        use_server(ws, server.port)
        outcomes = send(ws, "rita", "C1")
    assert server.handler.received == []
    assert {o.recipient: o.state for o in outcomes} == {
        "account:vk/maria": OutboxState.VOID,
        "account:vk/taras": OutboxState.VOID,
    }
    assert all(not o.sent_now and "re-draft" in o.note for o in outcomes)
    with ws.session() as s:
        # The identified person is never a recipient, and maria's re-draft names taras.
        with pytest.raises(PolicyViolation, match="identified person's own account"):
            draft(s, ws, "ivan", "C1", ["vk/taras"])
        [redrafted] = draft(s, ws, "ivan", "C1", ["vk/maria"])
    assert "Taras Bondar" in redrafted.body and "Olena" not in redrafted.body


def test_an_approved_message_is_voided_by_any_later_decision(
    two_candidates: Workspace, tmp_path: Path
) -> None:
    ws = two_candidates
    with ws.session() as s:
        review(s, ws.settings.review, "rita", "C1", "vk/olena", "confirm")
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    with ws.session() as s:
        s.execute(update(OutboxMessage).values(state=OutboxState.APPROVED.value))
    with ws.session() as s:
        # Even a decision that leaves the identification standing voids what was approved.
        review(s, ws.settings.review, "rob", "C1", "vk/taras", "reject")
    with ws.session() as s:
        assert [m.state for m in outbox(s, "rita", "C1")] == [OutboxState.VOID]


def test_the_database_refuses_to_send_a_message_bound_to_a_withdrawn_identification(
    two_candidates: Workspace,
) -> None:
    ws = two_candidates
    with ws.session() as s:
        review(s, ws.settings.review, "rita", "C1", "vk/olena", "confirm")
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    with ws.session() as s:
        review(s, ws.settings.review, "rob", "C1", "vk/olena", "reject")
    # Code that forgot every check (a raw UPDATE) still cannot claim the message.
    with pytest.raises(DBAPIError, match="current identification"), ws.session() as s:
        s.execute(update(OutboxMessage).values(state=OutboxState.SENDING.value))


def test_one_body_has_one_identity(two_candidates: Workspace) -> None:
    ws = two_candidates
    with ws.session() as s:
        review(s, ws.settings.review, "rita", "C1", "vk/olena", "confirm")
    with ws.session() as s, pytest.raises(PolicyViolation, match="one identity"):
        review(s, ws.settings.review, "rob", "C1", "vk/taras", "confirm")
    with ws.session() as s:
        assert case_info(s, "C1").identified_ref == "vk/olena"
    # Replacing it takes an explicit, audited rejection first.
    with ws.session() as s:
        review(s, ws.settings.review, "rob", "C1", "vk/olena", "reject", reason="wrong scar")
        out = review(s, ws.settings.review, "rob", "C1", "vk/taras", "confirm")
    assert out.identified and out.state is CaseState.IDENTIFIED
    with ws.session() as s:
        rows = s.query(Identification).order_by(Identification.id).all()
        assert [(r.account_ref, r.state) for r in rows] == [
            ("vk/olena", "withdrawn"),
            ("vk/taras", "confirmed"),
        ]
        actions = [
            a
            for (a,) in s.execute(
                text(
                    "SELECT action FROM audit_log WHERE action LIKE 'identification.%' ORDER BY seq"
                )
            )
        ]
    assert actions == [
        "identification.confirm",
        "identification.withdraw",
        "identification.confirm",
    ]


def test_the_database_allows_one_confirmed_identification_per_case(ws: Workspace) -> None:
    with ws.session() as s:
        review(s, ws.settings.review, "rita", "C1", "vk/olena", "confirm")
    with pytest.raises(IntegrityError), ws.session() as s:
        first = s.query(Identification).one()
        s.add(
            Identification(
                case_id=first.case_id,
                account_id=3,
                account_ref="vk/petro",
                state="confirmed",
                decision_id=first.decision_id,
                reviewers=["rob"],
            )
        )


def test_no_decision_once_a_message_may_have_reached_a_family(
    confirmed: Workspace, tmp_path: Path
) -> None:
    ws = confirmed
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    with smtp_server(tmp_path) as server:
        use_server(ws, server.port)
        send(ws, "rita", "C1")
    with ws.session() as s, pytest.raises(CaseStateError):
        review(s, ws.settings.review, "rob", "C1", "vk/olena", "reject")


def test_a_letter_needs_the_team_name_and_a_way_to_reach_it(confirmed: Workspace) -> None:
    ws = confirmed
    ws.settings.notify.team_email = None
    ws.settings.notify.team_phone = None
    with ws.session() as s, pytest.raises(ConfigError, match="TEAM_PHONE"):
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    ws.settings.notify.team_phone = "+380 44 000 00 00"
    ws.settings.notify.team_name = None
    with ws.session() as s, pytest.raises(ConfigError, match="TEAM_NAME"):
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    with ws.session() as s:
        assert outbox(s, "rita", "C1") == []


def test_searching_again_does_not_let_the_searcher_confirm(ws: Workspace) -> None:
    with ws.session() as s:
        add_user(s, "ada", "rhea", "reviewer")
        attach_search(s, ws, "rhea", "C1", result([], [candidate(1, "olena", 0.93, "match")]))
    # Another user searches again and gets the same candidate: rhea still ran a search listing it.
    with ws.session() as s:
        attach_search(s, ws, "ivan", "C1", result([], [candidate(1, "olena", 0.93, "match")]))
    with ws.session() as s, pytest.raises(PolicyViolation, match="ran a search"):
        review(s, ws.settings.review, "rhea", "C1", "vk/olena", "confirm")
    with ws.session() as s:
        assert review(s, ws.settings.review, "rita", "C1", "vk/olena", "confirm").identified


@pytest.mark.parametrize(
    "address",
    ["victim@example.org\r\nBcc: spy@evil.example", "a@b@example.org", "no-at-sign", ""],
)
def test_header_injection_addresses_are_refused_at_drafting(
    confirmed: Workspace, address: str
) -> None:
    ws = confirmed
    with ws.session() as s:
        account = s.query(Account).filter_by(external_id="maria").one()
        account.contacts = {"email": address}
    with ws.session() as s, pytest.raises(InputError):
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    with ws.session() as s:
        assert outbox(s, "rita", "C1") == []


def test_a_recipient_name_with_quotes_makes_a_well_formed_to_header() -> None:
    message = OutgoingMessage(
        to_address="maria@example.org",
        to_name='Maria "Masha", Shevchenko\r\nBcc: spy@evil.example',
        subject="s",
        body="b",
        message_id="<k@example.org>",
        idempotency_key="k",
        case_number="C1",
        language="en",
    )
    mail = build_email(message, "team@example.org")
    to = mail["To"]
    assert [a.addr_spec for a in to.addresses] == ["maria@example.org"]
    assert "Bcc" not in mail and "\n" not in str(to)
