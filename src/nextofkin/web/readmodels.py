"""Read-only views of the gallery for the web: accounts, their photos, faces and roles.

These are plain queries shaped for display (the gallery package has no read API of its own yet);
they decide nothing. Everything that changes data goes through the services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from nextofkin.errors import NotFound
from nextofkin.gallery.accounts import resolve_account
from nextofkin.gallery.records import (
    Account,
    Face,
    FaceRoleRecord,
    Image,
    IngestError,
    Photo,
    Source,
)
from nextofkin.gallery.tags import tagged_accounts
from nextofkin.i18n import _


@dataclass(frozen=True)
class SourceInfo:
    """One ingested gallery export."""

    name: str
    layout: str
    root: str
    accounts: int
    photos: int
    errors: int


@dataclass(frozen=True)
class GalleryStatus:
    """What the workspace holds (the ``status`` command's figures, plus sources)."""

    counts: dict[str, int]
    index_faces: int
    index_model: str
    calibrated: bool
    calibration: dict[str, Any] | None
    sources: list[SourceInfo]
    models_loaded: bool


@dataclass(frozen=True)
class AccountSummary:
    """One line of the account list."""

    id: int
    source: str
    account: str
    name: str | None
    city: str | None
    photos: int


@dataclass(frozen=True)
class FaceInfo:
    """A face in a photo, with its role from the viewing account's side."""

    id: int
    box: list[float]
    rotation: int
    quality: float
    detection_score: float
    role: str | None  # owner | companion | unknown | None (no role for this account)
    confidence: float | None


@dataclass(frozen=True)
class PhotoInfo:
    """A posting of an image by an account, with its faces."""

    id: int
    account_id: int
    path: str
    kind: str
    caption: str | None
    posted_at: str | None
    tagged: list[str]
    status: str
    error: str | None
    width: int | None
    height: int | None
    faces: list[FaceInfo] = field(default_factory=list)


@dataclass(frozen=True)
class AccountDetail:
    """An account with its profile fields and every photo."""

    id: int
    source: str
    account: str
    name: str | None
    url: str | None
    city: str | None
    contacts: dict[str, str]
    friends: list[str]
    photos: list[PhotoInfo]
    owner_faces: int
    companion_faces: int


@dataclass(frozen=True)
class FaceFile:
    """Where a face's pixels are and how to cut them out."""

    path: Path
    box: list[float]
    rotation: int


def gallery_status(
    session: Session, counts: dict[str, int], index: Any, models_loaded: bool
) -> GalleryStatus:
    """The status page's figures: counts, index and calibration, sources with their errors."""
    accounts = dict(
        session.execute(select(Account.source_id, func.count()).group_by(Account.source_id)).all()
    )
    photos = dict(
        session.execute(select(Photo.source_id, func.count()).group_by(Photo.source_id)).all()
    )
    errors = dict(
        session.execute(
            select(IngestError.source_id, func.count()).group_by(IngestError.source_id)
        ).all()
    )
    sources = [
        SourceInfo(
            name=s.name,
            layout=s.layout,
            root=s.root,
            accounts=int(accounts.get(s.id, 0)),
            photos=int(photos.get(s.id, 0)),
            errors=int(errors.get(s.id, 0)),
        )
        for s in session.scalars(select(Source).order_by(Source.name))
    ]
    description = index.description
    return GalleryStatus(
        counts=counts,
        index_faces=len(index),
        index_model=description.model,
        calibrated=description.calibration is not None,
        calibration=description.calibration,
        sources=sources,
        models_loaded=models_loaded,
    )


def list_accounts(
    session: Session,
    query: str | None = None,
    source: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[AccountSummary]]:
    """Accounts matching ``query`` (id, name or city, case-insensitive), with the total count."""
    photos = select(Photo.account_id, func.count().label("n")).group_by(Photo.account_id).subquery()
    stmt = (
        select(Account, Source.name, photos.c.n)
        .join(Source, Source.id == Account.source_id)
        .outerjoin(photos, photos.c.account_id == Account.id)
    )
    if query:
        like = f"%{query.strip()}%"
        stmt = stmt.where(
            or_(
                Account.external_id.ilike(like),
                Account.name.ilike(like),
                Account.city.ilike(like),
            )
        )
    if source:
        stmt = stmt.where(Source.name == source)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(Source.name, Account.external_id).limit(limit).offset(offset)
    ).all()
    return total, [
        AccountSummary(a.id, src, a.external_id, a.name, a.city, int(n or 0)) for a, src, n in rows
    ]


def _photo_infos(session: Session, photos: list[Photo], account_id: int) -> list[PhotoInfo]:
    image_ids = [p.image_id for p in photos if p.image_id is not None]
    faces: dict[int, list[Face]] = {}
    images: dict[int, Image] = {}
    if image_ids:
        for row in session.scalars(select(Image).where(Image.id.in_(image_ids))):
            images[row.id] = row
        for face in session.scalars(
            select(Face).where(Face.image_id.in_(image_ids)).order_by(Face.ordinal)
        ):
            faces.setdefault(face.image_id, []).append(face)
    face_ids = [f.id for fs in faces.values() for f in fs]
    roles: dict[int, tuple[str, float]] = {}
    if face_ids:
        for face_id, role, confidence in session.execute(
            select(FaceRoleRecord.face_id, FaceRoleRecord.role, FaceRoleRecord.confidence).where(
                FaceRoleRecord.account_id == account_id, FaceRoleRecord.face_id.in_(face_ids)
            )
        ):
            roles[face_id] = (role, confidence)
    out = []
    for p in photos:
        image = images.get(p.image_id) if p.image_id is not None else None
        out.append(
            PhotoInfo(
                id=p.id,
                account_id=p.account_id,
                path=p.rel_path,
                kind=p.kind,
                caption=p.caption,
                posted_at=p.posted_at,
                tagged=tagged_accounts(p.tagged),
                status=p.status,
                error=p.error,
                width=image.width if image else None,
                height=image.height if image else None,
                faces=[
                    FaceInfo(
                        id=f.id,
                        box=[round(v, 1) for v in f.box],
                        rotation=f.rotation,
                        quality=round(f.quality, 3),
                        detection_score=round(f.detection_score, 3),
                        role=roles.get(f.id, (None, None))[0],
                        confidence=roles.get(f.id, (None, None))[1],
                    )
                    for f in faces.get(p.image_id or -1, [])
                ],
            )
        )
    return out


def account_detail(session: Session, account_id: int) -> AccountDetail:
    """An account with its photos, their faces and each face's role for this account."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(_("no account #%(account_id)s", account_id=account_id))
    source = session.get_one(Source, account.source_id)
    photos = list(
        session.scalars(select(Photo).where(Photo.account_id == account_id).order_by(Photo.id))
    )
    infos = _photo_infos(session, photos, account_id)
    roles = [f.role for p in infos for f in p.faces]
    return AccountDetail(
        id=account.id,
        source=source.name,
        account=account.external_id,
        name=account.name,
        url=account.url,
        city=account.city,
        contacts={str(k): str(v) for k, v in (account.contacts or {}).items()},
        friends=list(account.friends or []),
        photos=infos,
        owner_faces=roles.count("owner"),
        companion_faces=roles.count("companion"),
    )


def find_account(session: Session, ref: str) -> int:
    """The database id of the account ``ref`` names (the one account grammar), else NotFound."""
    return resolve_account(session, ref)[0].id


def photo_detail(session: Session, photo_id: int) -> PhotoInfo:
    """One photo with its faces (roles from the posting account's side)."""
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise NotFound(_("no photo #%(photo_id)s", photo_id=photo_id))
    return _photo_infos(session, [photo], photo.account_id)[0]


def face_file(session: Session, face_id: int) -> FaceFile:
    """The image file and box of a gallery face the database knows (NotFound otherwise)."""
    row = session.execute(
        select(Face.left, Face.top, Face.right, Face.bottom, Face.rotation, Image.path)
        .join(Image, Image.id == Face.image_id)
        .where(Face.id == face_id)
    ).first()
    if row is None:
        raise NotFound(_("no face #%(face_id)s", face_id=face_id))
    left, top, right, bottom, rotation, path = row
    return FaceFile(Path(path), [left, top, right, bottom], rotation or 0)


def photo_file(session: Session, photo_id: int) -> Path:
    """The image file of a gallery photo the database knows (NotFound otherwise)."""
    path = session.scalar(
        select(Image.path).join(Photo, Photo.image_id == Image.id).where(Photo.id == photo_id)
    )
    if path is None:
        raise NotFound(_("no stored image for photo #%(photo_id)s", photo_id=photo_id))
    return Path(path)
