"""What goes with a message: the picture drawn from the case's best probe, the manual channel's
ready-to-send folder, and the outgoing e-mail checked against what was drafted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nextofkin.addresses import normalise_email
from nextofkin.cases.info import StoredProbe, stored_probes
from nextofkin.cases.media import clean_photo, face_crop, jpeg_bytes
from nextofkin.cases.records import Case
from nextofkin.errors import InputError, PolicyViolation
from nextofkin.i18n import _
from nextofkin.notify.model import Attach
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.smtp import Attachment, OutgoingMessage
from nextofkin.workspace import Workspace


def best_probe(case: Case) -> StoredProbe:
    """The best-quality face among the case's own stored photos that searches used."""
    probes = [p for s in sorted(case.searches, key=lambda s: -s.id) for p in stored_probes(s)]
    probes = [p for p in probes if p.case_photo is not None]
    if not probes:
        raise InputError(
            _(
                "case %(number)s has no searched probe photo to attach: use --attach none",
                number=case.number,
            )
        )
    return max(probes, key=lambda p: p.quality)


def make_attachment(
    workspace: Workspace, case: Case, attach: Attach, key: str
) -> tuple[str, str] | None:
    """Write the attachment into the outbox folder; returns (path relative to media, sha256)."""

    if attach is Attach.NONE:
        return None
    probe = best_probe(case)
    source = workspace.media_dir / probe.photo
    if attach is Attach.FACE:
        picture = face_crop(source, probe.box, rotation=probe.rotation)
    else:
        picture = clean_photo(source)
    data = jpeg_bytes(picture)
    rel = Path("outbox") / str(case.id) / key[:16] / f"{attach.value}.jpg"
    target = workspace.media_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return rel.as_posix(), hashlib.sha256(data).hexdigest()


def write_package(workspace: Workspace, number: str, row: OutboxMessage) -> str:
    """The manual channel's ready-to-send folder: text, attachment, recipient, instructions."""
    rel = Path("outbox") / str(row.case_id) / row.idempotency_key[:16]
    folder = workspace.media_dir / rel
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "message.txt").write_text(f"{row.subject}\n\n{row.body}", encoding="utf-8")
    (folder / "recipient.json").write_text(
        json.dumps(
            {
                "case": number,
                "recipient": row.recipient_key,
                "name": row.recipient_name,
                "contacts": row.address,
                "message_id": row.message_id,
                "attachment": Path(row.attachment_path).name if row.attachment_path else None,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    (folder / "README.txt").write_text(
        f"Send message.txt{' and the attached picture' if row.attachment_path else ''} to "
        f"{row.recipient_name or row.recipient_key} ({row.address or 'see the profile'}) by "
        "hand.\nThen record it:\n"
        f"  nextofkin notify mark-sent {number} --to {row.recipient_key.removeprefix('account:')}"
        "\nSend it once only. If in doubt whether it went out, ask before sending again.\n",
        encoding="utf-8",
    )
    return rel.as_posix()


def outgoing(workspace: Workspace, number: str, row: OutboxMessage) -> OutgoingMessage:
    attachment = None
    if row.attachment_path:
        path = workspace.media_dir / row.attachment_path
        if hashlib.sha256(path.read_bytes()).hexdigest() != row.attachment_sha256:
            raise PolicyViolation(
                _("attachment %(path)s changed since it was drafted: re-draft", path=path)
            )
        attachment = Attachment(path, f"{row.attach}.jpg")
    if hashlib.sha256(row.body.encode()).hexdigest() != row.body_sha256:
        raise PolicyViolation(_("message body changed since it was drafted: re-draft"))
    # Checked again before the claim: a bad address must fail here, never leave a row `sending`.
    return OutgoingMessage(
        to_address=normalise_email(row.address or ""),
        to_name=row.recipient_name,
        subject=row.subject,
        body=row.body,
        message_id=row.message_id,
        idempotency_key=row.idempotency_key,
        case_number=number,
        language=row.language,
        attachment=attachment,
    )
