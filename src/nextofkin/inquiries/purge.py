"""Purge an inquiry: a family withdraws, and nothing of their report may stay.

In one transaction: the inquiry row, its photos' rows with their face vectors, its links and the
links' decisions are deleted (the database's cascades), and every outbox row written to its
inquirer is voided if unsent and stripped of name, address, subject, body and attachment (outbox
rows are never deleted: their ids and states are the at-most-once record; a purged inquiry's id
is never reused, so no new letter can take its place). Then the photo files, the letters'
attachments and every stored report of a linked case are deleted, and SQLite's write-ahead log is
truncated (deleted rows are overwritten: ``secure_delete``). The audit log keeps only what it
always held: the inquiry's id and counts. An admin, or the user who filed the inquiry, purges.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from sqlalchemy import column, delete, select, table, update
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.inquiry_records import Inquiry, InquiryLink, InquiryPhoto
from nextofkin.cases.purge import _checkpoint
from nextofkin.errors import NotFound, PermissionDenied
from nextofkin.i18n import _
from nextofkin.inquiries.service import InquiryAction, acting_user, media_dir
from nextofkin.users.service import ROLE_PERMISSIONS, Permission, Role
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

# The outbox belongs to the notify layer above: the purge names the columns it redacts.
_OUTBOX = table(
    "outbox",
    column("id"),
    column("recipient_key"),
    column("state"),
    column("inquiry_link_id"),
    column("recipient_name"),
    column("address"),
    column("subject"),
    column("body"),
    column("body_sha256"),
    column("attachment_path"),
    column("attachment_sha256"),
    column("package_dir"),
)
PURGED = "(purged on the family's request)"


@dataclass(frozen=True)
class InquiryPurgeReport:
    """What an inquiry purge removed."""

    inquiry_id: int
    photos: int
    faces: int
    links: int
    letters_redacted: int
    files_deleted: int


def recipient_key(inquiry_id: int) -> str:
    """The outbox recipient key of an inquiry's inquirer."""
    return f"inquiry:{inquiry_id}"


def _letter_files(session: Session, inquiry_id: int) -> list[str]:
    """Attachments and manual-channel packages of the letters to the inquirer (media-relative)."""
    rows = session.execute(
        select(_OUTBOX.c.attachment_path, _OUTBOX.c.package_dir).where(
            _OUTBOX.c.recipient_key == recipient_key(inquiry_id)
        )
    ).all()
    return [path for row in rows for path in row if path]


def _redact_letters(session: Session, inquiry_id: int) -> int:
    key = recipient_key(inquiry_id)
    rows = session.execute(select(_OUTBOX.c.id).where(_OUTBOX.c.recipient_key == key)).all()
    session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.recipient_key == key, _OUTBOX.c.state.in_(("draft", "approved", "failed")))
        .values(state="void")
    )
    session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.recipient_key == key)
        .values(
            inquiry_link_id=None,
            recipient_name=None,
            address=None,
            subject=PURGED,
            body=PURGED,
            body_sha256="0" * 64,
            attachment_path=None,
            attachment_sha256=None,
            package_dir=None,
        )
    )
    return len(rows)


def _remove(session: Session, actor: str, inquiry: Inquiry) -> tuple[InquiryPurgeReport, list[int]]:
    photos = list(
        session.scalars(select(InquiryPhoto).where(InquiryPhoto.inquiry_id == inquiry.id))
    )
    case_ids = list(
        session.scalars(select(InquiryLink.case_id).where(InquiryLink.inquiry_id == inquiry.id))
    )
    letters = _redact_letters(session, inquiry.id)
    faces = sum(p.embedding is not None for p in photos)
    # Children first, explicitly: PostgreSQL and SQLite cascade alike, but nothing relies on it.
    session.execute(delete(InquiryLink).where(InquiryLink.inquiry_id == inquiry.id))
    session.execute(delete(InquiryPhoto).where(InquiryPhoto.inquiry_id == inquiry.id))
    session.execute(delete(Inquiry).where(Inquiry.id == inquiry.id))
    details = {"photos": len(photos), "faces": faces, "links": len(case_ids), "letters": letters}
    audit.record(session, actor, InquiryAction.PURGE, f"inquiry:{inquiry.id}", details)
    report = InquiryPurgeReport(inquiry.id, len(photos), faces, len(case_ids), letters, 0)
    return report, case_ids


def purge_inquiry(workspace: Workspace, actor: str | None, inquiry_id: int) -> InquiryPurgeReport:
    """Remove inquiry ``inquiry_id`` and every copy of its data (see the module docstring)."""
    with workspace.session() as session:
        user = acting_user(session, actor)
        inquiry = session.get(Inquiry, inquiry_id)
        may_purge = Permission.PURGE in ROLE_PERMISSIONS[Role(user.role)]
        if inquiry is None or not (may_purge or inquiry.filed_by == user.name):
            if inquiry is not None and Permission.VIEW in ROLE_PERMISSIONS[Role(user.role)]:
                raise PermissionDenied(
                    _(
                        "user %(name)r may not purge inquiry %(inquiry_id)s: an admin or the "
                        "user who filed it purges",
                        name=user.name,
                        inquiry_id=inquiry_id,
                    )
                )
            raise NotFound(_("no inquiry %(inquiry_id)s", inquiry_id=inquiry_id))
        letter_files = _letter_files(session, inquiry_id)
        report, case_ids = _remove(session, user.name, inquiry)
    deleted = 0
    targets = [media_dir(workspace, inquiry_id)]
    targets += [workspace.media_dir / "reports" / str(case_id) for case_id in case_ids]
    targets += [workspace.media_dir / p for p in letter_files]
    for target in targets:
        if target.is_dir():
            deleted += sum(1 for p in target.rglob("*") if p.is_file())
            shutil.rmtree(target)
        elif target.is_file():
            target.unlink()
            deleted += 1
    _checkpoint(workspace)
    log.info("purged inquiry %d: %d photo(s), %d file(s)", inquiry_id, report.photos, deleted)
    return InquiryPurgeReport(
        report.inquiry_id,
        report.photos,
        report.faces,
        report.links,
        report.letters_redacted,
        deleted,
    )
