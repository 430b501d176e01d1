"""Purge on request: remove a person's (or a whole source's) photos, faces and vectors.

What goes, in one database transaction with its audit entry:

* the account(s) and their photo postings (and, through the database's cascades, their owner
  roles and everything else keyed on the account);
* every image that no remaining posting uses, with all of its faces;
* in images that other accounts also posted (a joint photo shared by a friend), the faces that
  owner resolution attributed to the purged account(s) and to no remaining account.

Then the vectors of every removed face are taken out of the index, the index is reconciled with
the database (the database is the truth, so a crash between the two steps is repaired by running
the purge again or by any later ingest), and the calibration is recomputed for the smaller gallery.

What stays: case records (searches list the account by reference and name, decisions name it),
because they are the record of what a team did and why; the audit log; and the original export
files, which live outside the workspace and belong to the team.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.errors import NotFound
from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord, Image, Photo, Source
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed."""

    subject: str
    accounts: int
    photos: int
    images: int
    faces: int
    vectors: int
    index_total: int


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _remove_rows(session: Session, account_ids: list[int]) -> tuple[int, int, list[int]]:
    """Delete the accounts' data; returns (photos, images, face ids) removed."""
    photo_rows = session.execute(
        select(Photo.id, Photo.image_id).where(Photo.account_id.in_(account_ids))
    ).all()
    photo_ids = [p for p, _ in photo_rows]
    image_ids = sorted({i for _, i in photo_rows if i is not None})
    shared: set[int] = set()
    for part in _chunks(image_ids):
        shared |= set(
            session.scalars(
                select(Photo.image_id).where(
                    Photo.image_id.in_(part), Photo.account_id.not_in(account_ids)
                )
            )
        )
    exclusive = [i for i in image_ids if i not in shared]
    face_ids: set[int] = set()
    for part in _chunks(exclusive):
        face_ids |= set(session.scalars(select(Face.id).where(Face.image_id.in_(part))))
    # Faces in shared images: only those owned by a purged account and no remaining one.
    owned = set(
        session.scalars(
            select(FaceRoleRecord.face_id).where(
                FaceRoleRecord.account_id.in_(account_ids),
                FaceRoleRecord.role == FaceRole.OWNER.value,
            )
        )
    )
    owned_elsewhere = set(
        session.scalars(
            select(FaceRoleRecord.face_id).where(
                FaceRoleRecord.face_id.in_(owned),
                FaceRoleRecord.account_id.not_in(account_ids),
                FaceRoleRecord.role == FaceRole.OWNER.value,
            )
        )
    )
    face_ids |= owned - owned_elsewhere
    removed_faces = sorted(face_ids)
    # Accounts that shared images or faces with the purged ones must re-resolve their owners.
    affected = set()
    for part in _chunks(removed_faces):
        affected |= set(
            session.scalars(
                select(FaceRoleRecord.account_id).where(FaceRoleRecord.face_id.in_(part))
            )
        )
    affected -= set(account_ids)
    for part in _chunks(removed_faces):
        session.execute(delete(FaceRoleRecord).where(FaceRoleRecord.face_id.in_(part)))
        session.execute(delete(Face).where(Face.id.in_(part)))
    for part in _chunks(photo_ids):
        session.execute(delete(Photo).where(Photo.id.in_(part)))
    for part in _chunks(exclusive):
        session.execute(delete(Image).where(Image.id.in_(part)))
    session.execute(delete(FaceRoleRecord).where(FaceRoleRecord.account_id.in_(account_ids)))
    session.execute(delete(Account).where(Account.id.in_(account_ids)))
    if affected:
        session.execute(
            update(Account).where(Account.id.in_(sorted(affected))).values(roles_dirty=True)
        )
    return len(photo_ids), len(exclusive), removed_faces


def _finish(workspace: Workspace, face_ids: list[int]) -> tuple[int, int]:
    """Take the vectors out of the index and reconcile/recalibrate; (removed, index total)."""
    from nextofkin.gallery.maintenance import open_index, refresh_derived

    index = open_index(workspace)
    removed = index.remove(face_ids)
    index.save()
    report = refresh_derived(workspace, force_calibration=True)
    return removed + report.index_removed, report.index_total


def purge_account(workspace: Workspace, actor: str | None, ref: str) -> PurgeReport:
    """Purge one account (``source/account``, a unique account id, or ``#<db id>``); admins only."""
    from nextofkin.notify.service import resolve_account

    with workspace.session() as session:
        user = require(session, actor, Permission.PURGE)
        account, key = resolve_account(session, ref)
        photos, images, faces = _remove_rows(session, [account.id])
        audit.record(
            session,
            user.name,
            audit.Action.PURGE,
            f"account:{key}",
            {"photos": photos, "images": images, "faces": len(faces)},
        )
    vectors, total = _finish(workspace, faces)
    log.info("purged account %s: %d photos, %d faces", key, photos, len(faces))
    return PurgeReport(f"account:{key}", 1, photos, images, len(faces), vectors, total)


def purge_source(workspace: Workspace, actor: str | None, name: str) -> PurgeReport:
    """Purge a whole source (every account of one ingest root); admins only."""
    with workspace.session() as session:
        user = require(session, actor, Permission.PURGE)
        source = session.scalars(select(Source).where(Source.name == name)).one_or_none()
        if source is None:
            raise NotFound(f"no source {name!r}")
        account_ids = list(
            session.scalars(select(Account.id).where(Account.source_id == source.id))
        )
        photos, images, faces = _remove_rows(session, account_ids)
        leftover = session.scalar(select(func.count(Photo.id)).where(Photo.source_id == source.id))
        session.execute(delete(Source).where(Source.id == source.id))
        audit.record(
            session,
            user.name,
            audit.Action.PURGE,
            f"source:{name}",
            {
                "accounts": len(account_ids),
                "photos": photos + (leftover or 0),
                "images": images,
                "faces": len(faces),
            },
        )
    vectors, total = _finish(workspace, faces)
    log.info("purged source %s: %d accounts, %d faces", name, len(account_ids), len(faces))
    return PurgeReport(
        f"source:{name}", len(account_ids), photos, images, len(faces), vectors, total
    )
