"""Chain of custody: a case's post-mortem photos are copied into the workspace with their hashes.

Photos are copied into ``media/cases/<case id>/`` and their SHA-256 is recorded when they arrive;
:func:`verify_custody` re-hashes the copies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.info import CaseInfo, PhotoInfo, case_info, photo_info
from nextofkin.cases.records import Case, CasePhoto
from nextofkin.cases.states import AFTER_SEARCH, CaseState, get_case, state_label
from nextofkin.diskspace import write_atomically
from nextofkin.errors import CaseStateError, InputError
from nextofkin.i18n import _
from nextofkin.users.service import Permission, require
from nextofkin.vision.image_io import decode_image, read_bytes, require_face_size
from nextofkin.workspace import Workspace

NUMBER_RE = re.compile(r"^\w[\w.\-/]{0,99}$")


def check_number(number: str) -> str:
    number = number.strip()
    if not NUMBER_RE.match(number):
        raise InputError(
            _(
                "bad case number %(number)r: letters, digits and . _ - / only, at most 100",
                number=number,
            )
        )
    return number


def check_found_at(value: str | None) -> str | None:
    """``value`` as an ISO date or date-time (validated, stored as given)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            _("--found-at %(value)r is not an ISO date (2024-05-17) or date-time", value=value)
        ) from exc
    return text


@dataclass(frozen=True)
class CheckedPhoto:
    """A probe photo read and decoded, ready to be stored."""

    source: Path
    data: bytes
    digest: str


def check_photos(workspace: Workspace, photos: Sequence[Path]) -> list[CheckedPhoto]:
    """Read and decode every photo before the case is written to.

    A case never holds a file nobody can search (corrupt, or too small to hold a face: the error
    names the user's file). Decoding a large photo takes seconds, and it happens here, before
    the first write of the transaction, so that no database write lock is held meanwhile and
    other users' page views and decisions do not queue behind one upload.
    """
    vision = workspace.settings.vision
    checked: list[CheckedPhoto] = []
    for photo in photos:
        source = Path(photo)
        if not source.is_file():
            raise InputError(_("probe photo %(path)s does not exist", path=source))
        data = read_bytes(source, vision.max_bytes)
        loaded = decode_image(data, max_pixels=vision.max_pixels, name=source.name)
        require_face_size(loaded.width, loaded.height, vision.min_face_px, name=source.name)
        checked.append(CheckedPhoto(source, data, hashlib.sha256(data).hexdigest()))
    return checked


def store_copy(photo: CheckedPhoto, target: Path) -> tuple[str, int]:
    """Write ``photo`` to ``target`` (read-only, fsynced); its SHA-256 (re-read) and size.

    The hash is taken of the bytes re-read from disk, so the recorded hash is of what was stored.
    """
    # A full disk is DiskFull and leaves no .tmp file behind.
    write_atomically(target, photo.data, mode=0o400)  # read-only, owner-only like the workspace
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != photo.digest:
        raise InputError(_("copy of %(source)s does not match the original", source=photo.source))
    return digest, len(photo.data)


def store_photos(
    session: Session,
    workspace: Workspace,
    case: Case,
    actor: str,
    photos: Sequence[CheckedPhoto],
) -> list[CasePhoto]:
    """Copy new photos into the case; a photo already in the case (same hash) is not added twice."""
    existing = {p.sha256: p for p in case.photos}
    ordinal = max((p.ordinal for p in case.photos), default=0)
    added: list[CasePhoto] = []
    for photo in photos:
        source = photo.source
        if photo.digest in existing:
            continue
        ordinal += 1
        suffix = source.suffix.lower() if re.fullmatch(r"\.\w{1,5}", source.suffix) else ".img"
        rel = Path("cases") / str(case.id) / f"{ordinal:03d}-{photo.digest[:16]}{suffix}"
        stored_hash, size = store_copy(photo, workspace.media_dir / rel)
        record = CasePhoto(
            case_id=case.id,
            ordinal=ordinal,
            stored_path=rel.as_posix(),
            original_name=source.name,
            sha256=stored_hash,
            size_bytes=size,
            added_by=actor,
        )
        session.add(record)
        case.photos.append(record)
        existing[stored_hash] = record
        added.append(record)
        audit.record(
            session,
            actor,
            audit.Action.CASE_PHOTO,
            f"case:{case.number}",
            {
                "original": str(source.resolve()),
                "stored": rel.as_posix(),
                "sha256": stored_hash,
                "bytes": size,
            },
            case=case.number,
        )
    session.flush()
    return added


def open_case(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    number: str,
    photos: Sequence[Path],
    *,
    found_at: str | None = None,
    place: str | None = None,
    notes: str | None = None,
) -> CaseInfo:
    """Open a case with its post-mortem photos (copied into the workspace with their hashes).

    Needs the ``open_case`` permission and at least one readable image. A case number can be used
    once; reopening an existing number is an :class:`InputError`.
    """
    user = require(session, actor, Permission.OPEN_CASE)
    number = check_number(number)
    if not photos:
        raise InputError(_("a case needs at least one photo (--photo PHOTO)"))
    if session.scalars(select(Case.id).where(Case.number == number)).first() is not None:
        raise InputError(_("case %(number)s already exists", number=number))
    checked = check_photos(workspace, photos)
    case = Case(
        number=number,
        state=CaseState.OPEN.value,
        found_at=check_found_at(found_at),
        place=place,
        notes=notes,
        opened_by=user.name,
    )
    session.add(case)
    session.flush()
    audit.record(
        session,
        user.name,
        audit.Action.CASE_OPEN,
        f"case:{number}",
        {"found_at": case.found_at, "place": place, "notes": notes},
        case=number,
    )
    store_photos(session, workspace, case, user.name, checked)
    return case_info(session, number)


def add_photos(
    session: Session, workspace: Workspace, actor: str | None, number: str, photos: Sequence[Path]
) -> list[PhotoInfo]:
    """Add more post-mortem photos to an open case (not once it is identified or closed)."""
    user = require(session, actor, Permission.OPEN_CASE)
    case = get_case(session, number)
    if CaseState(case.state) not in AFTER_SEARCH:
        raise CaseStateError(
            _(
                "case %(number)s is %(state)s: photos can no longer be added",
                number=number,
                state=state_label(case.state),
            )
        )
    checked = check_photos(workspace, photos)
    return [photo_info(p) for p in store_photos(session, workspace, case, user.name, checked)]


@dataclass(frozen=True)
class CustodyCheck:
    """The outcome of re-hashing one stored probe photo."""

    stored_path: str
    recorded: str
    actual: str | None

    @property
    def ok(self) -> bool:
        """True when the stored file still has its recorded hash."""
        return self.recorded == self.actual


def verify_custody(session: Session, workspace: Workspace, number: str) -> list[CustodyCheck]:
    """Re-hash every stored photo of a case against the hash recorded when it arrived."""
    case = get_case(session, number)
    checks = []
    for photo in case.photos:
        path = workspace.media_dir / photo.stored_path
        actual = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        checks.append(CustodyCheck(photo.stored_path, photo.sha256, actual))
    return checks


def photo_paths(workspace: Workspace, info: CaseInfo) -> list[Path]:
    """Absolute paths of a case's stored photos, in order."""
    return [workspace.media_dir / p.stored_path for p in info.photos]
