"""Gallery rows written straight into a workspace, as an ingest would leave them (imported as
``gallery_rows``): one posted photo of an account with one owner face. For tests about records,
purges, media and messages, where the pixels need not hold a real face."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from nextofkin.gallery.records import Account, Face, FaceRoleRecord, Image, Photo


@dataclass(frozen=True)
class PostedFace:
    """The ids of what :func:`add_posted_face` wrote."""

    image: int
    photo: int
    face: int


def add_posted_face(
    session: Session,
    account: Account,
    path: Path,
    vector: np.ndarray,
    *,
    model: str = "test",
    alignment: str = "test",
    face_id: int | None = None,
    owner_role: bool = True,
    source_id: int | None = None,
) -> PostedFace:
    """``path`` (an existing file) posted by ``account``, with one face embedding ``vector``.

    ``face_id`` forces the face's id (what SQLite's id reuse after a purge used to do);
    ``source_id`` is the export the photo came through (default: the account's source).
    """
    data = path.read_bytes()
    image = Image(
        sha256=hashlib.sha256(data).hexdigest(),
        path=str(path),
        width=160,
        height=120,
        size_bytes=len(data),
        detector="hog",
        tried=[],
    )
    session.add(image)
    session.flush()
    photo = Photo(
        source_id=source_id if source_id is not None else account.source_id,
        account_id=account.id,
        rel_path=path.name,
        status="done",
        image_id=image.id,
        tagged=[],
    )
    face = Face(
        image_id=image.id,
        ordinal=0,
        left=40.0,
        top=20.0,
        right=100.0,
        bottom=90.0,
        landmarks=[[0, 0]] * 5,
        detection_score=1.0,
        quality=0.9,
        quality_parts={},
        rotation=0,
        model=model,
        alignment=alignment,
        embedding=np.asarray(vector, dtype=np.float32),
    )
    if face_id is not None:
        face.id = face_id
    session.add_all([photo, face])
    session.flush()
    if owner_role:
        session.add(
            FaceRoleRecord(
                account_id=account.id, face_id=face.id, role="owner", confidence=1, cluster=0
            )
        )
    return PostedFace(image.id, photo.id, face.id)
