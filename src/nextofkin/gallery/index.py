"""The vector index: FAISS over unit vectors (inner product = cosine similarity).

The index stores its own description beside it (model, alignment, dimension, FAISS factory
string, search parameters, calibration) and refuses vectors from another model. The database is
the source of truth: :func:`reconcile` makes the index hold exactly the faces the database holds,
so a crash between a database commit and an index save is repaired on the next open.

**Index by size.** The FAISS index type follows the gallery size (:func:`plan_index`): exact
``Flat`` while a linear scan is fast enough, ``HNSW32,Flat`` beyond, and IVF-PQ with exact
re-ranking (``IVFn,PQ32,RFlat``) when HNSW's memory and build time stop being reasonable. The
choice is made whenever the index is (re)built: by ``nextofkin reindex`` and automatically by
:func:`reconcile` when the gallery has grown into a larger tier. Every type returns *exact*
cosine similarities (HNSW,Flat searches exact vectors; IVF-PQ re-ranks its candidates on exact
vectors), so the calibrated thresholds keep their meaning whatever the index type.

**Deletions on every type.** ``Flat`` removes ids in place. HNSW and FAISS's refine wrapper
cannot remove, and IVF inside an id map removes without renumbering (which would corrupt the id
mapping): for these, removed ids become *tombstones*, excluded inside the FAISS search itself
by an ``IDSelector`` (so a query still gets ``k`` live results, not ``k`` minus the dead ones), and
the index is compacted (rebuilt from its own exact vectors) once tombstones pass
``tombstone_fraction`` of it, or at once if a tombstoned id comes back.

**Atomic saves.** Each save writes the data under a new generation file name, then replaces the
small description file, which names the data file: the rename of the description is the single
commit point, so a process killed at any moment leaves either the old or the new index, whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin.errors import IndexError_
from nextofkin.gallery.faiss_index import FaissIndex
from nextofkin.gallery.index_base import (
    DESCRIPTION_FILE,
    INDEX_FILE,
    TIER_FLAT,
    TIER_HNSW,
    TIER_IVF,
    IndexDescription,
    IndexPlan,
    ProgressFn,
    VectorIndex,
    embeddings_by_ids,
    factory_tier,
    ivf_lists,
    plan_index,
    search_params,
)
from nextofkin.gallery.records import Face
from nextofkin.i18n import _

# The index's public names stay importable from here (the FAISS class and the shared parts
# live in faiss_index and index_base).
__all__ = [
    "DESCRIPTION_FILE",
    "INDEX_FILE",
    "TIER_FLAT",
    "TIER_HNSW",
    "TIER_IVF",
    "FaissIndex",
    "IndexDescription",
    "IndexPlan",
    "ProgressFn",
    "ReconcileReport",
    "ReindexReport",
    "VectorIndex",
    "embeddings_by_ids",
    "factory_tier",
    "growth_plan",
    "ivf_lists",
    "plan_index",
    "reconcile",
    "reindex",
    "search_params",
]

log = logging.getLogger(__name__)


# --- keeping the index equal to the database ---------------------------------------------------


@dataclass(frozen=True)
class ReconcileReport:
    """What reconciliation changed."""

    added: int
    removed: int
    total: int
    rebuilt: bool = False
    factory: str = ""


def growth_plan(index: VectorIndex, n_faces: int) -> IndexPlan | None:
    """The plan to rebuild ``index`` with, if a gallery of ``n_faces`` has outgrown it.

    Automatic choices only move up (Flat → HNSW → IVF-PQ): a gallery that shrank keeps its index,
    which still works. A factory forced in the settings is applied when it differs from the one
    last requested.
    """
    if not isinstance(index, FaissIndex):
        return None
    policy = index.policy
    plan = plan_index(n_faces, policy)
    desc = index.description
    if not plan.auto:
        return plan if desc.build.get("requested", desc.factory) != plan.factory else None
    if not desc.build.get("auto", True):
        return None  # built with an explicit factory: `nextofkin reindex` changes it
    return plan if plan.tier > factory_tier(desc.factory) else None


def reconcile(index: VectorIndex, session: Session, *, chunk: int = 20_000) -> ReconcileReport:
    """Make ``index`` hold exactly the faces of its model that the database holds.

    If the gallery has outgrown the index type (see :func:`growth_plan`), the index is rebuilt
    from the stored embeddings instead of patched.
    """
    # A backend with its own way (Milvus: counts per source and id range, not a full listing).
    own: Callable[[Session, int], ReconcileReport] | None = getattr(
        index, "reconcile_records", None
    )
    if own is not None:
        return own(session, chunk)
    model = index.description.model
    db_ids = np.fromiter(
        session.scalars(select(Face.id).where(Face.model == model)), dtype=np.int64
    )
    have = index.ids()
    missing = np.setdiff1d(db_ids, have)
    extra = np.setdiff1d(have, db_ids)
    plan = growth_plan(index, int(db_ids.size))
    if plan is not None and isinstance(index, FaissIndex):
        total = index.rebuild(session, plan, chunk=max(chunk, 50_000))
        return ReconcileReport(
            int(missing.size), int(extra.size), total, rebuilt=True, factory=plan.factory
        )
    removed = index.remove(extra.tolist()) if extra.size else 0
    for ids, vectors in embeddings_by_ids(session, missing, chunk):
        index.add(ids, vectors)
    return ReconcileReport(
        added=int(missing.size),
        removed=removed,
        total=len(index),
        factory=index.description.factory,
    )


@dataclass(frozen=True)
class ReindexReport:
    """What ``nextofkin reindex`` built."""

    factory: str
    faces: int
    seconds: float
    params: dict[str, float]


def reindex(
    index: VectorIndex,
    session: Session,
    *,
    factory: str | None = None,
    progress: ProgressFn | None = None,
) -> ReindexReport:
    """Rebuild ``index`` from the stored embeddings (index type by size unless ``factory``).

    The calibration is kept: it describes the gallery's faces, which a rebuild does not change.
    The caller saves the index (atomically); a process killed before that leaves the old one.
    """
    started = time.monotonic()
    if isinstance(index, FaissIndex):
        n_faces = int(
            session.scalar(select(func.count(Face.id)).where(Face.model == index.description.model))
            or 0
        )
        plan = plan_index(n_faces, index.policy, factory)
        faces = index.rebuild(session, plan, progress=progress)
    else:
        clear = getattr(index, "clear", None)
        if clear is None:
            raise IndexError_(_("%(kind)s cannot be rebuilt", kind=type(index).__name__))
        clear()
        faces = reconcile(index, session).total
    return ReindexReport(
        factory=index.description.factory,
        faces=faces,
        seconds=round(time.monotonic() - started, 2),
        params=dict(index.description.params),
    )
