"""Pictures for the pages: face crops and photos, served only for rows the database knows.

No URL here carries a file path: a picture is named by a face, photo, case-photo or search id,
looked up in the database, and only the file that row records is read. Case photos must also lie
inside the workspace's media directory. Rendered pictures are kept in a small in-memory cache
(never on disk, so purged biometric data leaves no copies behind); every request still checks the
database and the viewer's permission first.
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

from nextofkin.cases.media import clean_photo, face_crop, jpeg_bytes
from nextofkin.cases.records import Case, CasePhoto, CaseSearch
from nextofkin.errors import NotFound
from nextofkin.web.deps import StateDep, Viewer
from nextofkin.web.readmodels import face_file, photo_file

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


CACHE = PictureCache()


def _jpeg(request: Request, data: bytes) -> Response:
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=3600"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


@router.get("/faces/{face_id}.jpg", summary="An upright crop of a gallery face")
def gallery_face(face_id: int, request: Request, state: StateDep, actor: Viewer) -> Response:
    """The face ``face_id`` cut from its gallery image, turned upright."""
    with state.db() as session:
        found = face_file(session, face_id)
    data = CACHE.get(
        f"face:{face_id}",
        lambda: jpeg_bytes(face_crop(found.path, found.box, rotation=found.rotation, max_side=320)),
    )
    return _jpeg(request, data)


@router.get("/photos/{photo_id}.jpg", summary="A gallery photo")
def gallery_photo(
    photo_id: int, request: Request, state: StateDep, actor: Viewer, thumb: bool = False
) -> Response:
    """The whole gallery photo, upright, at most 1280 px (360 px with ``thumb``)."""
    with state.db() as session:
        path = photo_file(session, photo_id)
    side = THUMB_SIDE if thumb else PHOTO_SIDE
    data = CACHE.get(
        f"photo:{photo_id}:{side}", lambda: jpeg_bytes(clean_photo(path, max_side=side))
    )
    return _jpeg(request, data)


def _case_photo(state: StateDep, number: str, ordinal: int) -> tuple[Path, str]:
    with state.db() as session:
        row = session.execute(
            select(CasePhoto.stored_path, CasePhoto.sha256)
            .join(Case, Case.id == CasePhoto.case_id)
            .where(Case.number == number, CasePhoto.ordinal == ordinal)
        ).first()
    if row is None:
        raise NotFound(f"no photo {ordinal} in case {number!r}")
    media = state.workspace.media_dir.resolve()
    path = (media / row[0]).resolve()
    if not path.is_relative_to(media):
        raise NotFound(f"photo {ordinal} of case {number!r} is not in the workspace")
    return path, row[1]


@router.get("/cases/{number:path}/photos/{ordinal}.jpg", summary="A post-mortem photo of a case")
def case_photo(
    number: str,
    ordinal: int,
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
    number: str, search_id: int, ordinal: int, request: Request, state: StateDep, actor: Viewer
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
        raise NotFound(f"search {search_id} of case {number!r} used no face from photo {ordinal}")
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
    from nextofkin.notify.records import OutboxMessage

    with state.db() as session:
        stored = session.scalar(
            select(OutboxMessage.attachment_path)
            .join(Case, Case.id == OutboxMessage.case_id)
            .where(Case.number == number, OutboxMessage.recipient_key == to)
        )
    if not stored:
        raise NotFound(f"no attachment for {to!r} in case {number!r}")
    media = state.workspace.media_dir.resolve()
    path = (media / stored).resolve()
    if not path.is_relative_to(media) or not path.is_file():
        raise NotFound(f"the attachment for {to!r} is not in the workspace")
    return _jpeg(request, path.read_bytes())
