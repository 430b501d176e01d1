"""The vector index: FAISS over unit vectors (inner product = cosine similarity).

The index stores its own description beside it (model, alignment, dimension, FAISS factory
string, calibration) and refuses vectors from another model. The database is the source of
truth: :func:`reconcile` makes the index hold exactly the faces the database holds, so a crash
between a database commit and an index save is repaired on the next open.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.errors import IndexError_, ModelMismatch
from nextofkin.gallery.records import Face
from nextofkin.vision.models import EmbedderSpec

log = logging.getLogger(__name__)

INDEX_FILE = "faces.faiss"
DESCRIPTION_FILE = "faces.json"


@dataclass
class IndexDescription:
    """What the vectors in an index are, and the calibration that gives their scores meaning."""

    model: str
    alignment: str
    dim: int
    factory: str = "Flat"
    metric: str = "inner_product"
    calibration: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, spec: EmbedderSpec) -> None:
        """Raise :class:`ModelMismatch` unless vectors of ``spec`` belong in this index."""
        if (spec.name, spec.alignment, spec.dim) != (self.model, self.alignment, self.dim):
            raise ModelMismatch(
                f"index holds {self.model}/{self.alignment}/{self.dim}-d vectors, "
                f"not {spec.name}/{spec.alignment}/{spec.dim}-d; run `nextofkin reindex` "
                "with the same model or use another workspace"
            )


class VectorIndex(Protocol):
    """The operations the rest of nextofkin needs from a vector store."""

    description: IndexDescription

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit vectors under integer ids."""
        ...

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids; returns how many were present."""
        ...

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, ids) per query row; missing slots have id -1."""
        ...

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        ...

    def __len__(self) -> int: ...

    def save(self) -> None:
        """Persist atomically."""
        ...


def _faiss() -> Any:
    import faiss

    return faiss


class FaissIndex:
    """A FAISS ``IndexIDMap2`` stored as two files in the workspace's index directory."""

    def __init__(self, directory: Path, description: IndexDescription, index: Any) -> None:
        self.directory = directory
        self.description = description
        self._index = index

    @classmethod
    def create(cls, directory: Path, spec: EmbedderSpec, factory: str = "Flat") -> FaissIndex:
        """A new, empty index for vectors of ``spec``."""
        faiss = _faiss()
        base = faiss.index_factory(spec.dim, factory, faiss.METRIC_INNER_PRODUCT)
        index = faiss.IndexIDMap2(base)
        description = IndexDescription(spec.name, spec.alignment, spec.dim, factory)
        return cls(directory, description, index)

    @classmethod
    def open(cls, directory: Path, spec: EmbedderSpec) -> FaissIndex:
        """The stored index, or a new one if none exists; refuses another model's index."""
        desc_path = directory / DESCRIPTION_FILE
        index_path = directory / INDEX_FILE
        if not desc_path.exists() or not index_path.exists():
            return cls.create(directory, spec)
        try:
            description = IndexDescription(**json.loads(desc_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise IndexError_(f"cannot read index description {desc_path}: {exc}") from exc
        description.check(spec)
        try:
            index = _faiss().read_index(str(index_path))
        except RuntimeError as exc:
            log.warning("index file %s unreadable (%s); it will be rebuilt", index_path, exc)
            fresh = cls.create(directory, spec, description.factory)
            fresh.description.calibration = description.calibration
            return fresh
        return cls(directory, description, index)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit vectors under integer ids (ids must not be present already)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.description.dim:
            raise ModelMismatch(
                f"vectors of shape {vectors.shape} do not fit a {self.description.dim}-d index"
            )
        if not self._index.is_trained:
            self._index.train(vectors)
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids; returns how many were present."""
        array = np.fromiter((int(i) for i in ids), dtype=np.int64)
        if array.size == 0:
            return 0
        return int(self._index.remove_ids(_faiss().IDSelectorBatch(array)))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, ids) per query row; missing slots have id -1."""
        queries = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        if len(self) == 0:
            shape = (queries.shape[0], k)
            return np.full(shape, -np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int64)
        scores, ids = self._index.search(queries, min(k, len(self)))
        return scores, ids

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        return np.asarray(_faiss().vector_to_array(self._index.id_map), dtype=np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self) -> None:
        """Write both files atomically (temporary file, fsync, rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp_index = self.directory / (INDEX_FILE + ".tmp")
        _faiss().write_index(self._index, str(tmp_index))
        _fsync(tmp_index)
        tmp_index.replace(self.directory / INDEX_FILE)
        tmp_desc = self.directory / (DESCRIPTION_FILE + ".tmp")
        tmp_desc.write_text(json.dumps(asdict(self.description), indent=1), encoding="utf-8")
        _fsync(tmp_desc)
        tmp_desc.replace(self.directory / DESCRIPTION_FILE)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ReconcileReport:
    """What reconciliation changed."""

    added: int
    removed: int
    total: int


def reconcile(index: VectorIndex, session: Session, *, chunk: int = 20_000) -> ReconcileReport:
    """Make ``index`` hold exactly the faces of its model that the database holds."""
    model = index.description.model
    db_ids = np.fromiter(
        session.scalars(select(Face.id).where(Face.model == model)), dtype=np.int64
    )
    have = index.ids()
    missing = np.setdiff1d(db_ids, have, assume_unique=True)
    extra = np.setdiff1d(have, db_ids, assume_unique=True)
    removed = index.remove(extra.tolist()) if extra.size else 0
    for start in range(0, missing.size, chunk):
        part = missing[start : start + chunk].tolist()
        rows = session.execute(select(Face.id, Face.embedding).where(Face.id.in_(part))).all()
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        vectors = (
            np.stack([row[1] for row in rows]) if rows else np.zeros((0, index.description.dim))
        )
        index.add(ids, vectors)
    return ReconcileReport(added=int(missing.size), removed=removed, total=len(index))
