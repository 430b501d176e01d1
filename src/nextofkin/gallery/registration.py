"""The records side of ingest: sources, accounts and postings registered, results stored.

Shared by the one-machine ingest and the cluster loader (``gallery/cluster``), so both engines
deduplicate by content and link postings the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nextofkin.gallery.analysis import ImageResult
from nextofkin.gallery.formats import AccountEntry, Export
from nextofkin.gallery.records import (
    Account,
    Face,
    Image,
    IngestError,
    Photo,
    PhotoStatus,
    Source,
)
from nextofkin.gallery.tags import parse_relatives
from nextofkin.workspace import Workspace


@dataclass
class Failure:
    """One item that could not be ingested, and why."""

    item: str
    message: str


def failures_of(workspace: Workspace, source_id: int) -> list[Failure]:
    """Every problem of a source: export items that could not be read, then failed photos."""
    with workspace.session() as session:
        failed = session.execute(
            select(Photo.rel_path, Photo.error).where(
                Photo.source_id == source_id, Photo.status == PhotoStatus.FAILED
            )
        ).all()
        problems = session.execute(
            select(IngestError.item, IngestError.message).where(IngestError.source_id == source_id)
        ).all()
    return [Failure(item, message) for item, message in problems] + [
        Failure(rel, error or "failed") for rel, error in failed
    ]


def upsert_source(session: Session, name: str, root: Path, layout: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        source = Source(name=name, root=str(root), layout=layout)
        session.add(source)
        session.flush()
    else:
        source.root, source.layout = str(root), layout
    return source


def _platform_source(session: Session, platform: str) -> Source:
    """The source that holds a platform's accounts (named after the platform, e.g. ``vk``).

    An export source already named so is reused: its accounts and the platform's are then the
    same namespace, which is what a team naming a VK export "vk" meant.
    """
    source = session.scalar(select(Source).where(Source.name == platform))
    if source is None:
        source = Source(name=platform, root="", layout="platform")
        session.add(source)
        session.flush()
    return source


def _merge_platform_account(account: Account, entry: AccountEntry) -> None:
    """Add what one more export says about a platform account, keeping what others said.

    Tools see different parts of one profile (gallery-dl the posts, a Telegram export the phone
    number): a later export never blanks a field an earlier one filled.
    """
    account.platform = entry.platform
    account.name = entry.name or account.name
    account.url = entry.url or account.url
    account.city = entry.city or account.city
    account.profile_photo = entry.profile_photo or account.profile_photo
    account.contacts = {**(account.contacts or {}), **entry.contacts}
    account.friends = list(dict.fromkeys([*(account.friends or []), *entry.friends]))
    relatives = parse_relatives(
        [*(account.relatives or []), *(r.to_json() for r in entry.relatives)]
    )
    account.relatives = [r.to_json() for r in relatives]
    account.extra = {**(account.extra or {}), **entry.extra}


def register_export(session: Session, source: Source, export: Export) -> tuple[int, int]:
    """Create the accounts and pending photo postings that are new; returns (accounts, photos).

    Accounts with a platform go to that platform's source (one account per platform user id,
    whichever export reached it); their photos stay in ``source``, whose root they are under.
    """
    sources: dict[str | None, int] = {None: source.id}
    for name in sorted({a.platform for a in export.accounts if a.platform}):
        sources[name] = _platform_source(session, name).id
    accounts: dict[tuple[str | None, str], Account] = {}
    for platform, source_id in sources.items():
        for a in session.scalars(select(Account).where(Account.source_id == source_id)):
            accounts[(platform, a.external_id)] = a
    added_accounts = 0
    for entry in export.accounts:
        key = (entry.platform, entry.external_id)
        account = accounts.get(key)
        if account is None:
            account = Account(source_id=sources[entry.platform], external_id=entry.external_id)
            session.add(account)
            accounts[key] = account
            added_accounts += 1
        if entry.platform is not None:
            _merge_platform_account(account, entry)
            continue
        account.name, account.url, account.city = entry.name, entry.url, entry.city
        account.contacts, account.friends = dict(entry.contacts), list(entry.friends)
        account.extra, account.profile_photo = dict(entry.extra), entry.profile_photo
        account.relatives = [r.to_json() for r in entry.relatives]
    session.flush()
    added_photos = _register_photos(session, source, export, sources, accounts)
    _register_problems(session, source, export)
    return added_accounts, added_photos


def _register_photos(
    session: Session,
    source: Source,
    export: Export,
    sources: dict[str | None, int],
    accounts: dict[tuple[str | None, str], Account],
) -> int:
    """The export's postings not yet known, as pending photos; returns how many were new."""
    # (account, path) is unique over all sources: a platform account's posting read again
    # through a second export of the same tool layout is the same posting.
    own = select(Account.id).where(Account.source_id.in_(list(sources.values())))
    existing: set[tuple[int, str]] = set(
        session.execute(
            select(Photo.account_id, Photo.rel_path).where(
                (Photo.source_id == source.id) | Photo.account_id.in_(own)
            )
        ).all()
    )
    added_photos = 0
    for photo in export.photos:
        account = accounts[(photo.platform, photo.account)]
        if (account.id, photo.rel_path) in existing:
            continue
        existing.add((account.id, photo.rel_path))
        session.add(
            Photo(
                source_id=source.id,
                account_id=account.id,
                rel_path=photo.rel_path,
                kind=photo.kind,
                caption=photo.caption,
                posted_at=photo.posted_at,
                tagged=[tag.to_json() for tag in photo.tagged],
                post_url=photo.post_url,
                status=PhotoStatus.PENDING,
            )
        )
        added_photos += 1
    return added_photos


def _register_problems(session: Session, source: Source, export: Export) -> None:
    """The export's per-item problems not yet recorded for ``source``."""
    known = set(session.scalars(select(IngestError.item).where(IngestError.source_id == source.id)))
    for problem in export.problems:
        if problem.item not in known:
            session.add(
                IngestError(source_id=source.id, item=problem.item, message=problem.message)
            )
            known.add(problem.item)


def store_result(
    session: Session,
    result: ImageResult,
    photo_ids: list[int],
    model: str,
    alignment: str,
    detector: str,
) -> int:
    """Commit-ready: the image, its faces, and its postings marked done (or failed)."""
    if result.error is not None:
        session.execute(
            update(Photo)
            .where(Photo.id.in_(photo_ids))
            .values(status=PhotoStatus.FAILED, error=result.error)
        )
        return 0
    image = session.scalar(select(Image).where(Image.sha256 == result.sha256))
    added = 0
    if image is None:
        image = Image(
            sha256=result.sha256,
            path=result.path,
            width=result.width,
            height=result.height,
            size_bytes=result.size_bytes,
            detector=detector,
            tried=result.tried,
        )
        for ordinal, face in enumerate(result.faces):
            image.faces.append(
                Face(
                    ordinal=ordinal,
                    left=face.box[0],
                    top=face.box[1],
                    right=face.box[2],
                    bottom=face.box[3],
                    landmarks=face.landmarks,
                    detection_score=face.detection_score,
                    quality=face.quality,
                    quality_parts=face.quality_parts,
                    rotation=face.rotation,
                    model=model,
                    alignment=alignment,
                    embedding=face.embedding,
                )
            )
            added += 1
        session.add(image)
        session.flush()
    link(session, photo_ids, image.id)
    return added


def link(session: Session, photo_ids: list[int], image_id: int) -> None:
    session.execute(
        update(Photo)
        .where(Photo.id.in_(photo_ids))
        .values(status=PhotoStatus.DONE, image_id=image_id, error=None)
    )
    account_ids = select(Photo.account_id).where(Photo.id.in_(photo_ids))
    session.execute(update(Account).where(Account.id.in_(account_ids)).values(roles_dirty=True))


@dataclass
class Pending:
    path: Path
    rel_path: str
    photo_ids: list[int]


def pending_by_path(session: Session, source: Source, root: Path) -> list[Pending]:
    rows = session.execute(
        select(Photo.id, Photo.rel_path)
        .where(Photo.source_id == source.id, Photo.status == PhotoStatus.PENDING)
        .order_by(Photo.id)
    ).all()
    grouped: dict[str, list[int]] = defaultdict(list)
    for photo_id, rel in rows:
        grouped[rel].append(photo_id)
    return [Pending(root / rel, rel, ids) for rel, ids in grouped.items()]


def gallery_counts(session: Session) -> dict[str, int]:
    """How many sources, accounts, photos (by status), images and faces the workspace holds."""
    counts = {
        "sources": session.scalar(select(func.count(Source.id))) or 0,
        "accounts": session.scalar(select(func.count(Account.id))) or 0,
        "images": session.scalar(select(func.count(Image.id))) or 0,
        "faces": session.scalar(select(func.count(Face.id))) or 0,
    }
    for status in PhotoStatus:
        counts[f"photos_{status.value}"] = (
            session.scalar(select(func.count(Photo.id)).where(Photo.status == status)) or 0
        )
    return counts
