"""Reconciling a Milvus collection with the records without listing every id.

Listing a billion ids is ~100,000 round trips; counting is one query per source. So: count the
faces per source on both sides; for a source whose counts differ, count per id range (ranges of
``chunk`` database faces, keyset-paged); only in a range whose counts differ are the ids listed
and compared. Milvus has no sum aggregate, so a range's checksum is its count: a face missing
and another one extra in the same source and range would hide each other; ids are never reused
(migration 0008) and purges delete from the collection at once, so that needs two faults in one
range between two reconciles. A full listing (:func:`full_reconcile`) remains for a collection
without the source field and for rows of a source the records never had.

A face's source is the export of its image's first posting (lowest source id); a face with no
posting left has source 0, where the protocol's plain ``add`` also puts faces.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from nextofkin.gallery.index import ReconcileReport, embeddings_by_ids
from nextofkin.gallery.index_base import IndexDescription
from nextofkin.gallery.records import Account, Face, Photo

log = logging.getLogger(__name__)

SOURCES_KEY = "sources"  # the sidecar remembers the sources it held: a purged one is checked


class MilvusIndex(Protocol):
    """What reconciling needs of a collection (``milvus_index.MilvusIndex`` implements it; a
    protocol here, so that the index imports its reconciler and not the other way round)."""

    description: IndexDescription
    partitioned: bool
    client: Any
    collection: str

    def count(self, where: str = "") -> int: ...

    def ids_where(self, where: str) -> np.ndarray: ...

    def ids(self) -> np.ndarray: ...

    def remove(self, ids: Iterable[int]) -> int: ...

    def add_with_sources(
        self, ids: np.ndarray, vectors: np.ndarray, sources: np.ndarray, *, replace: bool = False
    ) -> None: ...

    def clear(self) -> None: ...

    def save(self) -> None: ...

    def __len__(self) -> int: ...


@dataclass
class _Fix:
    """Ids to delete from the collection and (id, source) pairs to insert."""

    delete: list[np.ndarray]
    insert_ids: list[np.ndarray]
    insert_sources: list[np.ndarray]


def _face_source(model: str) -> Select[int, int]:
    source = func.coalesce(func.min(Photo.source_id), 0)
    return (
        select(Face.id, source.label("source"))
        .outerjoin(Photo, Photo.image_id == Face.image_id)
        .where(Face.model == model)
        .group_by(Face.id)
    )


def faces_filed_elsewhere(session: Session, source_id: int) -> list[int]:
    """Faces a purge of ``source_id`` may remove that the collection can file under another
    source: faces of the images its photos and its accounts' photos show that were also posted
    through another export. Listed before the purge deletes the postings."""
    accounts = select(Account.id).where(Account.source_id == source_id)
    touched = select(Photo.image_id).where(
        or_(Photo.source_id == source_id, Photo.account_id.in_(accounts))
    )
    shared = select(Photo.image_id).where(Photo.source_id != source_id, Photo.image_id.in_(touched))
    return sorted(session.scalars(select(Face.id).where(Face.image_id.in_(shared))))


def source_counts(session: Session, model: str) -> dict[int, int]:
    """Faces of ``model`` per source, as the records say (one aggregate query)."""
    per_face = _face_source(model).subquery()
    rows = session.execute(
        select(per_face.c.source, func.count()).group_by(per_face.c.source)
    ).all()
    return {int(source): int(n) for source, n in rows}


def _pages(session: Session, model: str, source: int, chunk: int) -> list[np.ndarray]:
    """The records' face ids of one source, sorted, in pages of ``chunk`` (keyset)."""
    per_face = _face_source(model).subquery()
    pages: list[np.ndarray] = []
    last = -1
    while True:
        ids = np.fromiter(
            session.scalars(
                select(per_face.c.id)
                .where(per_face.c.source == source, per_face.c.id > last)
                .order_by(per_face.c.id)
                .limit(chunk)
            ),
            dtype=np.int64,
        )
        if ids.size == 0:
            return pages
        pages.append(ids)
        last = int(ids[-1])


def _fix_source(
    index: MilvusIndex, session: Session, model: str, source: int, chunk: int, fix: _Fix
) -> None:
    pages = _pages(session, model, source, chunk)
    low = 0
    for n, page in enumerate(pages):
        # Contiguous ranges: the last one is open, so extra rows beyond the records are seen.
        high = int(page[-1]) if n < len(pages) - 1 else None
        where = f"source == {source} and id >= {low}"
        if high is not None:
            where += f" and id <= {high}"
        if index.count(where) != page.size:
            _diff(index.ids_where(where), page, source, fix)
        low = (high or 0) + 1
    if not pages:
        fix.delete.append(index.ids_where(f"source == {source}"))


def _diff(have: np.ndarray, want: np.ndarray, source: int, fix: _Fix) -> None:
    fix.delete.append(np.setdiff1d(have, want))
    missing = np.setdiff1d(want, have)
    fix.insert_ids.append(missing)
    fix.insert_sources.append(np.full(missing.size, source, dtype=np.int64))


def reconcile_milvus(index: MilvusIndex, session: Session, chunk: int) -> ReconcileReport:
    """Make the collection hold exactly the records' faces, by counts first (module docstring)."""
    model = index.description.model
    if not index.partitioned:
        return full_reconcile(index, session, chunk)
    want = source_counts(session, model)
    if len(index) == 0:
        return _bulk_fill(index, session, chunk, want)
    remembered = {int(s) for s in index.description.extra.get(SOURCES_KEY, [])}
    have = {s: index.count(f"source == {s}") for s in sorted(set(want) | remembered | {0})}
    if sum(have.values()) != len(index):
        return full_reconcile(index, session, chunk)  # rows of a source nobody remembers
    fix = _Fix([], [], [])
    for source in sorted(have):
        if have[source] != want.get(source, 0):
            _fix_source(index, session, model, source, chunk, fix)
    report = _apply(index, session, fix, chunk)
    index.description.extra[SOURCES_KEY] = sorted(want)
    return report


def _bulk_fill(
    index: MilvusIndex, session: Session, chunk: int, want: dict[int, int]
) -> ReconcileReport:
    """An empty collection (a reindex, a first fill): every face in keyset pages, nothing
    compared. A Milvus cluster can take the same rows as Parquet files by bulk import."""
    per_face = _face_source(index.description.model).subquery()
    last, added = -1, 0
    while True:
        rows = session.execute(
            select(per_face.c.id, per_face.c.source, Face.embedding)
            .join(Face, Face.id == per_face.c.id)
            .where(per_face.c.id > last)
            .order_by(per_face.c.id)
            .limit(chunk)
        ).all()
        if not rows:
            break
        last = int(rows[-1][0])
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        sources = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        index.add_with_sources(ids, np.stack([r[2] for r in rows]), sources)
        added += len(rows)
    index.description.extra[SOURCES_KEY] = sorted(want)
    return ReconcileReport(
        added=added, removed=0, total=len(index), factory=index.description.factory
    )


def full_reconcile(index: MilvusIndex, session: Session, chunk: int) -> ReconcileReport:
    """The fallback: list every id on both sides and compare."""
    model = index.description.model
    rows = session.execute(_face_source(model).order_by(Face.id)).all()
    db_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    db_sources = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    have = index.ids()
    missing = ~np.isin(db_ids, have)
    fix = _Fix([np.setdiff1d(have, db_ids)], [db_ids[missing]], [db_sources[missing]])
    if index.partitioned:
        index.description.extra[SOURCES_KEY] = sorted({int(s) for s in db_sources})
    return _apply(index, session, fix, chunk)


def _apply(index: MilvusIndex, session: Session, fix: _Fix, chunk: int) -> ReconcileReport:
    # Deletes first: a face whose source changed is deleted under the old and inserted anew.
    extra = np.concatenate([*fix.delete, np.zeros(0, np.int64)])
    removed = index.remove(extra.tolist()) if extra.size else 0
    ids = np.concatenate([*fix.insert_ids, np.zeros(0, np.int64)])
    sources = np.concatenate([*fix.insert_sources, np.zeros(0, np.int64)])
    by_id = dict(zip(ids.tolist(), sources.tolist(), strict=True))
    for page_ids, vectors in embeddings_by_ids(session, ids, chunk):
        page_sources = np.fromiter((by_id[int(i)] for i in page_ids), dtype=np.int64)
        index.add_with_sources(page_ids, vectors, page_sources)
    return ReconcileReport(
        added=int(ids.size), removed=removed, total=len(index), factory=index.description.factory
    )


def scrub_collection(index: MilvusIndex, session: Session, *, wait: float = 600.0) -> list[str]:
    """After a purge, make the deleted vectors leave the files, not only the searches.

    Milvus marks deleted rows and drops them when it compacts a segment. Milvus Lite keeps them
    in its segment files even after ``compact`` (tested): there the collection is made again
    from the records (a drop removes its files). A Milvus server compacts; the old segment files
    go at its garbage collection (``dataCoord.gc.dropTolerance``, 3 hours by default: lower it
    where purges must reach the disk sooner). Returns what was done, for the audit entry."""
    if index.description.extra.get("milvus_uri") == "milvus-lite":
        index.clear()
        _bulk_fill(index, session, 20_000, source_counts(session, index.description.model))
        index.save()
        return [f"milvus-lite collection {index.collection} rebuilt from the records"]
    job = index.client.compact(index.collection)
    deadline = time.monotonic() + wait
    state = ""
    while time.monotonic() < deadline:
        state = str(index.client.get_compaction_state(job))
        if state.endswith("Completed"):
            break
        time.sleep(2)
    else:
        log.warning(
            "Milvus compaction %s of %s not completed yet: %s", job, index.collection, state
        )
    return [f"milvus collection {index.collection} compaction {job}: {state}"]
