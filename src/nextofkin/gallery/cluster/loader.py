"""Loading finished shards into the records: one transaction per shard, with its ledger row.

Rows go in by bulk statements, not per object: images by one multi-row ``INSERT … RETURNING``,
faces by ``COPY`` on PostgreSQL (an ``executemany`` on SQLite), postings by one ``executemany``
update. The ledger row is inserted in the same transaction, so a shard is loaded wholly or not
at all, and a loaded shard is never loaded again. Deduplication is the one-machine ingest's: an
image content already in the records is linked, never stored twice. The new faces' nearest
cohort similarities, when the shard has them, come back with their face ids for the derive step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from nextofkin.db import Float32Vector
from nextofkin.gallery.cluster.ledger import ClusterShard
from nextofkin.gallery.cluster.neighbours import FaceNeighbours
from nextofkin.gallery.cluster.shards import ShardRow
from nextofkin.gallery.records import Account, Face, Image, Photo, PhotoStatus

_FACE_COLUMNS = [
    "image_id",
    "ordinal",
    "left",
    "top",
    "right",
    "bottom",
    "landmarks",
    "detection_score",
    "quality",
    "quality_parts",
    "rotation",
    "model",
    "alignment",
    "embedding",
]

# The table itself: an executemany UPDATE keyed by a bound id is a Core statement.
_PHOTOS = Photo.metadata.tables["photos"]


@dataclass(frozen=True)
class LoadedShard:
    """What loading one shard did (``skipped``: the ledger had it already)."""

    images: int
    faces: int
    linked: int
    failed: int
    skipped: bool = False
    neighbours: FaceNeighbours | None = None


@dataclass(frozen=True)
class FaceLabel:
    """What every stored face is labelled with: the model, its alignment, the detector."""

    model: str
    alignment: str
    detector: str


def load_shard(
    session: Session, name: str, source_id: int, rows: list[ShardRow], label: FaceLabel
) -> LoadedShard:
    """Store one shard's images, faces and postings and its ledger row; the caller commits."""
    if session.get(ClusterShard, name) is not None:
        return LoadedShard(0, 0, 0, 0, skipped=True)
    good = [r for r in rows if r.result.error is None]
    failed = [r for r in rows if r.result.error is not None]
    shas = [r.result.sha256 for r in good]
    known: dict[str, int] = dict(
        session.execute(select(Image.sha256, Image.id).where(Image.sha256.in_(shas))).all()
    )
    new = [r for r in good if r.result.sha256 not in known]
    if new:
        inserted = session.execute(
            insert(Image).returning(Image.sha256, Image.id, sort_by_parameter_order=True),
            [_image_values(r, label) for r in new],
        )
        new_ids = dict(inserted.all())
    else:
        new_ids = {}
    faces = [
        _face_values(new_ids[r.result.sha256], ordinal, face, label)
        for r in new
        for ordinal, face in enumerate(r.result.faces)
    ]
    _insert_faces(session, faces)
    ids = {**known, **new_ids}
    links = [{"pid": pid, "iid": ids[r.result.sha256]} for r in good for pid in r.photo_ids]
    if links:
        session.connection().execute(
            update(_PHOTOS)
            .where(_PHOTOS.c.id == bindparam("pid"))
            .values(status=PhotoStatus.DONE.value, image_id=bindparam("iid"), error=None),
            links,
        )
        photo_ids = [link["pid"] for link in links]
        owners = select(Photo.account_id).where(Photo.id.in_(photo_ids))
        session.execute(update(Account).where(Account.id.in_(owners)).values(roles_dirty=True))
    errors = [{"pid": pid, "err": r.result.error} for r in failed for pid in r.photo_ids]
    if errors:
        session.connection().execute(
            update(_PHOTOS)
            .where(_PHOTOS.c.id == bindparam("pid"))
            .values(status=PhotoStatus.FAILED.value, error=bindparam("err")),
            errors,
        )
    session.add(ClusterShard(shard=name, source_id=source_id, images=len(new), faces=len(faces)))
    session.flush()
    near = _neighbours(session, new, new_ids)
    return LoadedShard(len(new), len(faces), len(good) - len(new), len(failed), neighbours=near)


def _neighbours(
    session: Session, new: list[ShardRow], image_ids: dict[str, int]
) -> FaceNeighbours | None:
    """The new faces' nearest cohort similarities under their face ids (``None`` when the shard
    has none; the actors all got the one cohort, so a shard has one cohort id)."""
    rows = [r for r in new if r.cohort_id is not None and r.result.faces]
    if not rows or len({r.cohort_id for r in rows}) != 1:
        return None
    wanted = [image_ids[r.result.sha256] for r in rows]
    ids: dict[tuple[int, int], int] = {}
    for start in range(0, len(wanted), 500):
        found = session.execute(
            select(Face.image_id, Face.ordinal, Face.id).where(
                Face.image_id.in_(wanted[start : start + 500])
            )
        )
        ids.update({(image_id, ordinal): face_id for image_id, ordinal, face_id in found})
    face_ids: list[int] = []
    positions, similarities = [], []
    for r in rows:
        n = len(r.result.faces)
        face_ids.extend(ids[(image_ids[r.result.sha256], j)] for j in range(n))
        positions.append(np.asarray(r.positions, dtype=np.int32).reshape(n, -1))
        similarities.append(np.asarray(r.similarities, dtype=np.float32).reshape(n, -1))
    return FaceNeighbours(
        str(rows[0].cohort_id),
        np.asarray(face_ids, dtype=np.int64),
        np.concatenate(positions),
        np.concatenate(similarities),
    )


def _image_values(row: ShardRow, label: FaceLabel) -> dict[str, Any]:
    r = row.result
    return {
        "sha256": r.sha256,
        "path": r.path,
        "width": r.width,
        "height": r.height,
        "size_bytes": r.size_bytes,
        "detector": label.detector,
        "tried": list(r.tried),
    }


def _face_values(image_id: int, ordinal: int, face: Any, label: FaceLabel) -> dict[str, Any]:
    left, top, right, bottom = face.box
    return {
        "image_id": image_id,
        "ordinal": ordinal,
        "left": left,
        "top": top,
        "right": right,
        "bottom": bottom,
        "landmarks": face.landmarks,
        "detection_score": face.detection_score,
        "quality": face.quality,
        "quality_parts": face.quality_parts,
        "rotation": face.rotation,
        "model": label.model,
        "alignment": label.alignment,
        "embedding": face.embedding,
    }


def _insert_faces(session: Session, faces: list[dict[str, Any]]) -> None:
    if not faces:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(Face), faces)
        return
    # COPY: the fastest way into PostgreSQL, inside the session's own transaction.
    raw = connection.connection.driver_connection
    assert raw is not None
    columns = ", ".join(f'"{c}"' for c in _FACE_COLUMNS)
    with raw.cursor() as cursor, cursor.copy(f"COPY faces ({columns}) FROM STDIN") as copy:
        for face in faces:
            copy.write_row([_copy_value(c, face[c], connection.dialect) for c in _FACE_COLUMNS])


def _copy_value(column: str, value: Any, dialect: Dialect) -> Any:
    if column in ("landmarks", "quality_parts"):
        return json.dumps(value)
    if column == "embedding":
        return Float32Vector().process_bind_param(value, dialect)
    return value
