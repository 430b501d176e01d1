"""Pictures for the pages: face crops and photos, served only for rows the database knows.

No URL here carries a file path: a picture is named by a face, photo, case-photo or search id,
looked up in the database, and only the file that row records is read. Case photos must also lie
inside the workspace's media directory. Rendered pictures are kept in a small in-memory cache
(never on disk, so purged biometric data leaves no copies behind); every request still checks the
database and the viewer's permission first.

The cache is keyed by what the picture *is*, never by a row id alone: a face by its image's
SHA-256, its box and rotation (and its id), a photo by its image's SHA-256. An id that comes to
name another face (a purge, then a new ingest) therefore finds nothing cached, and a purged face
is a 404 at once because its row is gone. Browsers must revalidate every picture (``no-cache``
with an ETag), so they ask again, and get the 404, instead of showing a copy of their own. A purge
through the web also empties the cache (:func:`forget_all`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.cases.media import clean_photo, face_crop, jpeg_bytes
from nextofkin.cases.records import Case, CasePhoto, CaseSearch
from nextofkin.errors import NotFound
from nextofkin.gallery.records import Face, Image, Photo
from nextofkin.i18n import gettext
from nextofkin.notify.records import OutboxMessage
from nextofkin.web.deps import RowId, StateDep, Viewer

router = APIRouter(prefix="/media", tags=["media"])

PHOTO_SIDE = 1280
THUMB_SIDE = 360


class PictureCache:
    """A byte-bounded LRU of rendered JPEGs, keyed by what the database row names."""

    def __init__(self, max_bytes: int = 64_000_000) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], bytes]) -> bytes:
        """The cached picture for ``key``, made (outside the lock) when missing."""
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                return data
        data = make()
        with self._lock:
            if key not in self._items:
                self._items[key] = data
                self._size += len(data)
            while self._size > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)
        return data

    def clear(self) -> None:
        """Forget every picture."""
        with self._lock:
            self._items.clear()
            self._size = 0

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items


CACHE = PictureCache()


def forget_all() -> None:
    """Empty the picture cache (after a purge: no purged face stays even in memory)."""
    CACHE.clear()


def _jpeg(request: Request, data: bytes) -> Response:
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    # no-cache: the browser keeps the picture but asks every time (a 304 is cheap), so a purged
    # face is never shown from the browser's own copy either.
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


def face_key(session: Session, face_id: int) -> tuple[str, Path, list[float], int]:
    """The cache key of a gallery face, the file it is cut from, its box and rotation.

    NotFound when the database has no such face (so a purged face is a 404 at once).
    """
    row = session.execute(
        select(
            Face.left, Face.top, Face.right, Face.bottom, Face.rotation, Image.path, Image.sha256
        )
        .join(Image, Image.id == Face.image_id)
        .where(Face.id == face_id)
    ).first()
    if row is None:
        raise NotFound(gettext("no face #%(face_id)s", face_id=face_id))
    left, top, right, bottom, rotation, path, sha = row
    box = [float(left), float(top), float(right), float(bottom)]
    turn = int(rotation or 0)
    return f"face:{sha}:{box}:{turn}:{face_id}", Path(path), box, turn


@router.get("/faces/{face_id}.jpg", summary="An upright crop of a gallery face")
def gallery_face(face_id: RowId, request: Request, state: StateDep, actor: Viewer) -> Response:
    """The face ``face_id`` cut from its gallery image, turned upright."""
    with state.db() as session:
        key, path, box, rotation = face_key(session, face_id)
    data = CACHE.get(key, lambda: jpeg_bytes(face_crop(path, box, rotation=rotation, max_side=320)))
    return _jpeg(request, data)


@router.get("/photos/{photo_id}.jpg", summary="A gallery photo")
def gallery_photo(
    photo_id: RowId, request: Request, state: StateDep, actor: Viewer, thumb: bool = False
) -> Response:
    """The whole gallery photo, upright, at most 1280 px (360 px with ``thumb``)."""
    with state.db() as session:
        row = session.execute(
            select(Image.path, Image.sha256)
            .join(Photo, Photo.image_id == Image.id)
            .where(Photo.id == photo_id)
        ).first()
    if row is None:
        raise NotFound(gettext("no stored image for photo #%(photo_id)s", photo_id=photo_id))
    path, sha = Path(row[0]), row[1]
    side = THUMB_SIDE if thumb else PHOTO_SIDE
    data = CACHE.get(f"photo:{sha}:{side}", lambda: jpeg_bytes(clean_photo(path, max_side=side)))
    return _jpeg(request, data)


def _case_photo(state: StateDep, number: str, ordinal: int) -> tuple[Path, str]:
    with state.db() as session:
        row = session.execute(
            select(CasePhoto.stored_path, CasePhoto.sha256)
            .join(Case, Case.id == CasePhoto.case_id)
            .where(Case.number == number, CasePhoto.ordinal == ordinal)
        ).first()
    if row is None:
        raise NotFound(
            gettext("no photo %(ordinal)s in case %(number)r", ordinal=ordinal, number=number)
        )
    media = state.workspace.media_dir.resolve()
    path = (media / row[0]).resolve()
    if not path.is_relative_to(media):
        raise NotFound(
            gettext(
                "photo %(ordinal)s of case %(number)r is not in the workspace",
                ordinal=ordinal,
                number=number,
            )
        )
    return path, row[1]


@router.get("/cases/{number:path}/photos/{ordinal}.jpg", summary="A post-mortem photo of a case")
def case_photo(
    number: str,
    ordinal: RowId,
    request: Request,
    state: StateDep,
    actor: Viewer,
    thumb: bool = False,
) -> Response:
    """A case's stored post-mortem photo, upright, metadata removed."""
    path, sha = _case_photo(state, number, ordinal)
    side = THUMB_SIDE if thumb else PHOTO_SIDE
    data = CACHE.get(f"case:{sha}:{side}", lambda: jpeg_bytes(clean_photo(path, max_side=side)))
    return _jpeg(request, data)


@router.get(
    "/cases/{number:path}/searches/{search_id}/probes/{ordinal}.jpg",
    summary="The probe face a search used, cut from the case photo",
)
def probe_face(
    number: str,
    search_id: RowId,
    ordinal: RowId,
    request: Request,
    state: StateDep,
    actor: Viewer,
) -> Response:
    """The face that search ``search_id`` used from case photo ``ordinal``, upright."""
    with state.db() as session:
        probes = session.scalar(
            select(CaseSearch.probe_faces)
            .join(Case, Case.id == CaseSearch.case_id)
            .where(Case.number == number, CaseSearch.id == search_id)
        )
    probe = next((p for p in probes or [] if p.get("case_photo") == ordinal), None)
    if probe is None:
        raise NotFound(
            gettext(
                "search %(search_id)s of case %(number)r used no face from photo %(ordinal)s",
                search_id=search_id,
                number=number,
                ordinal=ordinal,
            )
        )
    path, sha = _case_photo(state, number, ordinal)
    box = [float(v) for v in probe["box"]]
    rotation = int(probe.get("rotation", 0))
    data = CACHE.get(
        f"probe:{sha}:{box}:{rotation}",
        lambda: jpeg_bytes(face_crop(path, box, rotation=rotation, max_side=320)),
    )
    return _jpeg(request, data)


@router.get(
    "/cases/{number:path}/messages/attachment.jpg",
    summary="The picture attached to a drafted message",
)
def message_attachment(
    number: str, request: Request, state: StateDep, actor: Viewer, to: str
) -> Response:
    """The attachment of the message to recipient ``to`` (``account:source/id``) of a case."""
    with state.db() as session:
        stored = session.scalar(
            select(OutboxMessage.attachment_path)
            .join(Case, Case.id == OutboxMessage.case_id)
            .where(Case.number == number, OutboxMessage.recipient_key == to)
        )
    if not stored:
        raise NotFound(gettext("no attachment for %(to)r in case %(number)r", to=to, number=number))
    media = state.workspace.media_dir.resolve()
    path = (media / stored).resolve()
    if not path.is_relative_to(media) or not path.is_file():
        raise NotFound(gettext("the attachment for %(to)r is not in the workspace", to=to))
    return _jpeg(request, path.read_bytes())
