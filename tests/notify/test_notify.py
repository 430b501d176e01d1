"""Notifications: drafting policy, templates, one message per family, SMTP failure handling."""

from __future__ import annotations

import hashlib
from email.message import Message
from pathlib import Path

import pytest
from PIL import Image

from nextofkin import audit
from nextofkin.cases.service import CaseState, case_info
from nextofkin.errors import InputError, PermissionDenied, PolicyViolation
from nextofkin.notify.service import OutboxState, draft, mark_sent, outbox, release, send
from nextofkin.workspace import Workspace
from notify.smtpd import Handler, free_port, smtp_server, use_server


def text_of(mail: Message) -> str:
    part = mail.get_body(("plain",)) if hasattr(mail, "get_body") else None
    payload = (part or mail).get_payload(decode=True)
    if payload is None:  # multipart built by message_from_bytes (compat32 API)
        for sub in mail.walk():
            if sub.get_content_type() == "text/plain":
                payload = sub.get_payload(decode=True)
                break
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def attachments(mail: Message) -> list[tuple[str, bytes]]:
    return [
        (p.get_filename() or "", p.get_payload(decode=True))
        for p in mail.walk()
        if p.get_content_disposition() == "attachment"
    ]


def test_no_draft_or_send_before_confirmation(ws: Workspace) -> None:
    with ws.session() as s, pytest.raises(PolicyViolation, match="no confirmed identification"):
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    with pytest.raises(PolicyViolation, match="no confirmed identification"):
        send(ws, "rita", "C1")


def test_send_needs_reviewer_and_refuses_own_account(confirmed: Workspace) -> None:
    ws = confirmed
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["maria"])
    with pytest.raises(PermissionDenied):
        send(ws, "ivan", "C1")
    with ws.session() as s, pytest.raises(PolicyViolation, match="own account"):
        draft(s, ws, "ivan", "C1", ["vk/olena"])


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "en",
            [
                "Dear Maria Shevchenko",
                "17 May 2024",
                "Izium",
                "Olena Shevchenko",
                "C1",
                "team@example.org",
                "CONTENT NOTE",
                "claim the body",
            ],
        ),
        (
            "ru",
            [
                "Здравствуйте, Maria Shevchenko",
                "17.05.2024",
                "ПРЕДУПРЕЖДЕНИЕ",
                "дела C1",
                "забрать тело",
                "ДНК",
            ],
        ),
        (
            "uk",
            [
                "Доброго дня, Maria Shevchenko",
                "17.05.2024",
                "ПОПЕРЕДЖЕННЯ",
                "справи C1",
                "забрати тіло",
                "ДНК",
            ],
        ),
    ],
)
def test_templates_in_three_languages(
    confirmed: Workspace, language: str, words: list[str]
) -> None:
    ws = confirmed
    with ws.session() as s:
        [msg] = draft(s, ws, "ivan", "C1", ["vk/maria"], attach="face", language=language)
    for word in words:
        assert word in msg.body, word
    assert "C1" in msg.subject
    with ws.session() as s:
        [plain] = draft(s, ws, "ivan", "C1", ["vk/maria"], attach="none", language=language)
    assert "CONTENT NOTE" not in plain.body and "ПРЕДУПРЕЖДЕНИЕ" not in plain.body
    assert "ПОПЕРЕДЖЕННЯ" not in plain.body and plain.attachment_path is None


def test_workspace_template_overrides_shipped_one(confirmed: Workspace) -> None:
    ws = confirmed
    override = ws.home / "templates" / "notify" / "en" / "body.txt.j2"
    override.parent.mkdir(parents=True)
    override.write_text(
        "Custom text for {{ recipient_name }} about case {{ case_number }}.\n"
        "{{ team_name }}, {{ team_phone }}\n"
    )
    with ws.session() as s:
        [msg] = draft(s, ws, "ivan", "C1", ["vk/maria"], language="en")
    assert msg.body == (
        "Custom text for Maria Shevchenko about case C1.\n"
        "Identification Team North, +380 44 000 00 00\n"
    )


def test_a_template_without_the_team_contact_is_refused(confirmed: Workspace) -> None:
    ws = confirmed
    override = ws.home / "templates" / "notify" / "en" / "body.txt.j2"
    override.parent.mkdir(parents=True)
    override.write_text("Custom text for {{ recipient_name }}, signed {{ team_name }}.\n")
    with ws.session() as s, pytest.raises(InputError, match="phone or e-mail"):
        draft(s, ws, "ivan", "C1", ["vk/maria"], language="en")


def test_one_family_one_message_per_address(confirmed: Workspace) -> None:
    ws = confirmed
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    with ws.session() as s, pytest.raises(PolicyViolation, match="already the address"):
        draft(s, ws, "ivan", "C1", ["vk/ivanka"])


def test_send_once_with_face_attachment(confirmed: Workspace, tmp_path: Path) -> None:
    ws = confirmed
    with smtp_server(tmp_path) as server:
        use_server(ws, server.port)
        with ws.session() as s:
            [d] = draft(s, ws, "ivan", "C1", ["vk/maria"], attach="face", language="uk")
        [first] = send(ws, "rita", "C1")
        [second] = send(ws, "rita", "C1")
        with ws.session() as s:  # re-drafting a sent message changes nothing either
            [again] = draft(s, ws, "ivan", "C1", ["vk/maria"], attach="photo")
        assert send(ws, "rob", "C1")[0].sent_now is False
    assert first.sent_now and first.state is OutboxState.SENT
    assert not second.sent_now and "already sent" in second.note
    assert again.state is OutboxState.SENT and again.attach == "face"
    [mail] = server.handler.received
    assert mail["Message-ID"] == d.message_id and d.idempotency_key[:40] in d.message_id
    assert mail["X-NextOfKin-Case"] == "C1"
    assert "ПОПЕРЕДЖЕННЯ" in text_of(mail)
    [(name, data)] = attachments(mail)
    assert name == "face.jpg"
    assert hashlib.sha256(data).hexdigest() == d.attachment_sha256
    with Image.open(ws.media_dir / str(d.attachment_path)) as face:
        assert face.format == "JPEG" and min(face.size) >= 100 and not face.getexif()
    with ws.session() as s:
        assert case_info(s, "C1").state is CaseState.NOTIFIED
        actions = [e.action for e in audit.entries(s, case="C1")]
    assert actions.count("notify.sent") == 1 and actions.count("notify.approve") == 1


def test_server_down_retries_then_fails(confirmed: Workspace) -> None:
    ws = confirmed
    use_server(ws, free_port())  # nothing listens there
    ws.settings.notify.max_attempts = 3
    delays: list[float] = []
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    [out] = send(ws, "rita", "C1", sleep=delays.append)
    assert out.state is OutboxState.FAILED and "connect" in out.note
    assert delays == [0.01, 0.02]  # 3 attempts, doubling back-off
    with ws.session() as s:
        [row] = outbox(s, "rita", "C1")
    assert row.attempts == 3


def test_temporary_then_success(confirmed: Workspace, tmp_path: Path) -> None:
    ws = confirmed
    handler = Handler(rcpt_replies=["451 4.3.0 try later"], data_replies=["452 4.3.1 full"])
    with smtp_server(tmp_path, handler=handler) as server:
        use_server(ws, server.port)
        with ws.session() as s:
            draft(s, ws, "ivan", "C1", ["vk/maria"])
        [out] = send(ws, "rita", "C1", sleep=lambda _: None)
    assert out.state is OutboxState.SENT
    assert len(server.handler.received) == 1 and server.handler.bodies_seen == 2
    with ws.session() as s:
        retries = [e for e in audit.entries(s, case="C1") if e.action == "notify.retry"]
    assert [("451" in r.details["error"], "452" in r.details["error"]) for r in retries] == [
        (True, False),
        (False, True),
    ]


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_permanent_failure_is_final(confirmed: Workspace, tmp_path: Path, where: str) -> None:
    ws = confirmed
    reply = "550 5.1.1 no such user" if where == "rcpt" else "554 5.7.1 rejected"
    handler = Handler(**{f"{where}_replies": [reply]})  # type: ignore[arg-type]
    with smtp_server(tmp_path, handler=handler) as server:
        use_server(ws, server.port)
        with ws.session() as s:
            draft(s, ws, "ivan", "C1", ["vk/maria"])
        [out] = send(ws, "rita", "C1", sleep=lambda _: pytest.fail("no retry on 5xx"))
        assert out.state is OutboxState.FAILED and reply[:3] in out.note
        # A person fixes the cause and releases it: then it goes out, once.
        with pytest.raises(PolicyViolation):
            mark_sent(ws, "rita", "C1", "vk/maria")
        release(ws, "rita", "C1", "vk/maria", "mailbox re-created by the family")
        [again] = send(ws, "rita", "C1")
    assert again.state is OutboxState.SENT and len(server.handler.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_tls_and_auth(confirmed: Workspace, tmp_path: Path, tls: str) -> None:
    ws = confirmed
    with smtp_server(tmp_path, tls=tls, auth=("mailer", "s3cret")) as server:
        use_server(
            ws, server.port, tls=tls, user="mailer", password="wrong", ca_file=str(server.ca_file)
        )
        with ws.session() as s:
            draft(s, ws, "ivan", "C1", ["vk/maria"], attach="photo")
        [bad] = send(ws, "rita", "C1", sleep=lambda _: pytest.fail("no retry on 535"))
        assert bad.state is OutboxState.FAILED and "535" in bad.note
        release(ws, "rita", "C1", "vk/maria", "password fixed")
        use_server(ws, server.port, tls=tls, user="mailer", password="s3cret")  # system CAs only
        [untrusted] = send(ws, "rita", "C1")
        assert untrusted.state is OutboxState.FAILED and "certificate" in untrusted.note
        release(ws, "rita", "C1", "vk/maria", "CA configured")
        use_server(
            ws, server.port, tls=tls, user="mailer", password="s3cret", ca_file=str(server.ca_file)
        )
        [ok] = send(ws, "rita", "C1")
    assert ok.state is OutboxState.SENT
    [mail] = server.handler.received
    assert attachments(mail)[0][0] == "photo.jpg"


def test_manual_channel_package_and_mark_sent(confirmed: Workspace) -> None:
    ws = confirmed
    with ws.session() as s:
        [d] = draft(
            s, ws, "ivan", "C1", ["vk/petro"], channel="manual", attach="face", language="ru"
        )
    assert "@petro" in (d.address or "")
    [out] = send(ws, "rita", "C1")
    assert out.state is OutboxState.APPROVED and "by hand" in out.note
    with ws.session() as s:
        [row] = outbox(s, "rita", "C1")
    folder = ws.media_dir / str(row.package_dir)
    assert (folder / "message.txt").read_text(encoding="utf-8").startswith("Информация")
    assert (folder / "face.jpg").is_file() and "mark-sent C1 --to vk/petro" in (
        folder / "README.txt"
    ).read_text()
    mark_sent(ws, "rita", "C1", "vk/petro", "sent on Telegram at 14:05")
    with pytest.raises(PolicyViolation, match="already recorded"):
        mark_sent(ws, "rob", "C1", "vk/petro")
    with ws.session() as s:
        assert case_info(s, "C1").state is CaseState.NOTIFIED


def test_manual_send_prints_where_the_package_is(confirmed: Workspace) -> None:
    ws = confirmed
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["vk/petro"], channel="manual", language="en")
    [out] = send(ws, "rita", "C1")
    folder = Path(out.note.removeprefix("ready to send by hand: "))
    assert folder.is_absolute() and (folder / "message.txt").is_file()


def test_kin_recipients_pick_reachable_relatives(confirmed: Workspace) -> None:
    from nextofkin.kin.engine import KinRelation, KinResult
    from nextofkin.notify.service import kin_recipients

    def relation(account: str, score: float, contacts: dict[str, str]) -> KinRelation:
        return KinRelation(
            account,
            0,
            "vk",
            account.title(),
            None,
            contacts,
            score,
            "family",
            "parent",
            [f"{account} appears in 3 joint photos"],
            [],
        )

    class Kin:
        def kin(self, account: str, *, source: str | None = None, top: int = 10) -> KinResult:
            assert (account, source) == ("olena", "vk")  # the confirmed person
            rels = [
                relation("petro", 0.9, {"telegram": "@petro"}),
                relation("maria", 0.8, {"email": "maria@example.org"}),
            ]
            return KinResult(account, 1, "vk", "Olena", 3, {}, rels)

    ws = confirmed
    by_email = kin_recipients(ws, "ivan", "C1", top=2, kin_service=Kin())
    assert [p.ref for p in by_email] == ["vk/maria"]
    by_hand = kin_recipients(ws, "ivan", "C1", top=2, channel="manual", kin_service=Kin())
    assert [p.ref for p in by_hand] == ["vk/petro", "vk/maria"]
    assert "joint photos" in by_hand[0].reasons[0]
