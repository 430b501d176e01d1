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

Purged means gone, also from the files: the index is compacted (no tombstoned vectors in its
data file) and every older index generation is deleted, however recent; the score-normalisation
cohort is redrawn without the purged faces; every stored case report that showed a purged face or
account is deleted (``case report`` writes it again without them); SQLite overwrites deleted rows
(``secure_delete``) and the write-ahead log is checkpointed and truncated. The deleted files are
listed in a ``purge.files`` audit entry.

What stays: case records (searches list the account by reference and name, decisions name it),
because they are the record of what a team did and why; the audit log; and the original export
files, which live outside the workspace and belong to the team.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, delete, func, not_, or_, select, update
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.errors import NextOfKinError, NotFound
from nextofkin.gallery.accounts import resolve_account
from nextofkin.gallery.index import FaissIndex
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.milvus_index import MilvusIndex
from nextofkin.gallery.milvus_reconcile import faces_filed_elsewhere, scrub_collection
from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord, Image, Photo, Source
from nextofkin.i18n import gettext
from nextofkin.identify.derived import refresh_derived
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

# The sidecar a written case report keeps beside itself, naming the faces and accounts it shows
# (nextofkin.reports writes it): a purge deletes the reports that show what it removes.
SHOWS_SUFFIX = ".shows.json"


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


def _faces_going(session: Session, account_ids: list[int], exclusive: list[int]) -> list[int]:
    """The faces a purge removes: every face of an image only the purged postings had, and in
    shared images the faces owned by a purged account and by no remaining one."""
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
    return sorted(face_ids)


def _remove_rows(
    session: Session, account_ids: list[int], source_id: int | None = None
) -> tuple[int, int, list[int]]:
    """Delete the accounts' data, and with ``source_id`` every photo posted through that export
    (a platform account keeps the photos other exports brought); returns (photos, images,
    face ids) removed."""
    going: ColumnElement[bool] = Photo.account_id.in_(account_ids)
    if source_id is not None:
        going = or_(going, Photo.source_id == source_id)
    photo_rows = session.execute(select(Photo.id, Photo.image_id).where(going)).all()
    photo_ids = [p for p, _ in photo_rows]
    image_ids = sorted({i for _, i in photo_rows if i is not None})
    shared: set[int] = set()
    for part in _chunks(image_ids):
        shared |= set(
            session.scalars(select(Photo.image_id).where(Photo.image_id.in_(part), not_(going)))
        )
    exclusive = [i for i in image_ids if i not in shared]
    removed_faces = _faces_going(session, account_ids, exclusive)
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


def _finish(
    workspace: Workspace, face_ids: list[int], source: tuple[int, list[int]] | None = None
) -> tuple[int, int]:
    """Take the vectors out of the index and reconcile/recalibrate; (removed, index total).

    ``source``: a purged source's id and its faces Milvus may file under another source."""
    index = open_index(workspace)
    if source is not None and isinstance(index, MilvusIndex):
        # The source by one delete by filter, not id by id (see remove_purged_source).
        removed = index.remove_purged_source(source[0], face_ids, source[1])
    else:
        removed = index.remove(face_ids)
    index.save()
    report = refresh_derived(workspace, force_calibration=True)
    return removed + report.index_removed, report.index_total


def _affected_reports(workspace: Workspace, faces: set[int], accounts: set[str]) -> list[Path]:
    """Stored reports that show a purged face or account (or whose content is not recorded)."""
    found: set[Path] = set()
    for sidecar in workspace.home.rglob(f"*{SHOWS_SUFFIX}"):
        report = sidecar.with_name(sidecar.name[: -len(SHOWS_SUFFIX)])
        try:
            shows = json.loads(sidecar.read_text(encoding="utf-8"))
            hit = bool(faces & set(shows["faces"]) or accounts & set(shows["accounts"]))
        except (OSError, ValueError, KeyError, TypeError):
            hit = True  # unreadable: cannot tell, so it goes
        if hit:
            found |= {report, sidecar}
    reports = workspace.media_dir / "reports"
    if reports.is_dir():  # reports written before sidecars existed: cannot tell either
        for path in reports.rglob("case-*"):
            sidecar = path.with_name(path.name + SHOWS_SUFFIX)
            if path.is_file() and not path.name.endswith(SHOWS_SUFFIX) and not sidecar.exists():
                found.add(path)
    return sorted(found)


def _checkpoint(workspace: Workspace) -> str:
    """Move SQLite's write-ahead log into the database and empty it (old page images go)."""
    if workspace.engine.dialect.name != "sqlite":
        return "not sqlite"
    with workspace.engine.connect() as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        log.warning("WAL checkpoint blocked by a reader: purged rows may stay in the -wal file")
        return "busy"
    return "truncated"


def _scrub(
    workspace: Workspace, actor: str, subject: str, faces: list[int], accounts: list[str]
) -> None:
    """Remove the copies a purge leaves in files (see the module docstring) and audit them."""
    generations: list[str] = []
    index = open_index(workspace)
    if isinstance(index, FaissIndex):
        if index.tombstones:
            index.compact()
            index.save()
        generations = index.remove_other_generations()
    elif isinstance(index, MilvusIndex):
        with workspace.session() as session:
            generations = scrub_collection(index, session)
    home = workspace.home
    deleted = []
    for path in _affected_reports(workspace, set(faces), set(accounts)):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise NextOfKinError(
                gettext("purge could not delete %(path)s: %(exc)s", path=path, exc=exc)
            ) from exc
        if not path.name.endswith(SHOWS_SUFFIX):
            deleted.append(str(path.relative_to(home)))
        if not any(path.parent.iterdir()):
            path.parent.rmdir()
    with workspace.session() as session:
        audit.record(
            session,
            actor,
            audit.Action.PURGE_FILES,
            subject,
            {"index_generations_deleted": generations, "reports_deleted": deleted},
        )
    _checkpoint(workspace)


def purge_account(workspace: Workspace, actor: str | None, ref: str) -> PurgeReport:
    """Purge one account (``source/account``, a unique account id, or ``#<db id>``); admins only."""
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
    _scrub(workspace, user.name, f"account:{key}", faces, [key])
    log.info("purged account %s: %d photos, %d faces", key, photos, len(faces))
    return PurgeReport(f"account:{key}", 1, photos, images, len(faces), vectors, total)


def purge_source(workspace: Workspace, actor: str | None, name: str) -> PurgeReport:
    """Purge a whole source (every account of one ingest root); admins only."""
    with workspace.session() as session:
        user = require(session, actor, Permission.PURGE)
        source = session.scalars(select(Source).where(Source.name == name)).one_or_none()
        if source is None:
            raise NotFound(gettext("no source %(name)r", name=name))
        accounts = session.execute(
            select(Account.id, Account.external_id).where(Account.source_id == source.id)
        ).all()
        # Platform accounts (vk/123) live in the platform's source while their photos keep the
        # export they came through: those known only through this export go with it.
        elsewhere = (
            select(Photo.id)
            .where(Photo.account_id == Account.id, Photo.source_id != source.id)
            .exists()
        )
        only_here = session.execute(
            select(Account.id, Source.name, Account.external_id)
            .join(Source, Source.id == Account.source_id)
            .where(
                Account.source_id != source.id,
                Account.id.in_(select(Photo.account_id).where(Photo.source_id == source.id)),
                ~elsewhere,
            )
        ).all()
        account_ids = [a for a, _ in accounts] + [a for a, _, _ in only_here]
        refs = [f"{name}/{external}" for _, external in accounts]
        refs += [f"{platform}/{external}" for _, platform, external in only_here]
        filed = (source.id, faces_filed_elsewhere(session, source.id))  # before the rows go
        photos, images, faces = _remove_rows(session, account_ids, source.id)
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
    vectors, total = _finish(workspace, faces, filed)
    _scrub(workspace, user.name, f"source:{name}", faces, refs)
    log.info("purged source %s: %d accounts, %d faces", name, len(account_ids), len(faces))
    return PurgeReport(
        f"source:{name}", len(account_ids), photos, images, len(faces), vectors, total
    )
