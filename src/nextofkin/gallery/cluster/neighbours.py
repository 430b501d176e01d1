"""Score-normalisation work done by the cluster's actors: each new face's nearest cohort faces.

S-norm needs, for every indexed face, the mean and spread of its ``k`` highest similarities to
the cohort, its own account's cohort faces left out (``identify/normalise.py``). The account is
known only after owner resolution, once the shard is loaded, so the actors cannot finish the
statistic; but when the workspace already has a cohort (every ingest into a grown gallery), they
can do its costly part, the product with the cohort, and keep each face's ``keep`` highest
similarities with their cohort positions. With ``keep = k + the most cohort faces of any one
account + 1``, whatever account is left out later, at least ``k`` entries remain and their top
``k`` is exactly the top ``k`` of the full product: the derive step finishes the statistic from
these lists instead of multiplying again (and still redraws, ignoring them, when its rules say
so). The lists wait between load and derive in one file per shard (:class:`PendingNeighbours`);
a crash in between only costs the product being done again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nextofkin.workspace import Workspace

_ROWS = 512
F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ShardCohort:
    """The cohort as the actors need it (shipped once to each through Ray's object store)."""

    cohort_id: str
    vectors: F32  # (cohort, dim), unit rows
    keep: int  # nearest cohort similarities kept per face

    @classmethod
    def of(cls, cohort_id: str, vectors: F32, accounts: I64, k: int) -> ShardCohort:
        """``keep`` from the cohort's accounts: ``k`` survive leaving out any one account."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        most = int(np.unique(accounts, return_counts=True)[1].max()) if len(accounts) else 0
        return cls(cohort_id, vectors, max(1, min(len(vectors), k + most + 1)))

    def nearest(self, vectors: F32) -> tuple[I32, F32]:
        """Each row's ``keep`` highest similarities to the cohort and their positions in it."""
        rows = np.asarray(vectors, dtype=np.float32).reshape(-1, self.vectors.shape[1])
        keep = min(self.keep, len(self.vectors))
        positions = np.empty((len(rows), keep), dtype=np.int32)
        similarities = np.empty((len(rows), keep), dtype=np.float32)
        for start in range(0, len(rows), _ROWS):  # a (rows x cohort) block stays small
            sims = rows[start : start + _ROWS] @ self.vectors.T
            pos = np.argpartition(sims, len(self.vectors) - keep, axis=1)[:, -keep:]
            positions[start : start + _ROWS] = pos
            similarities[start : start + _ROWS] = np.take_along_axis(sims, pos, axis=1)
        return positions, similarities


@dataclass(frozen=True)
class FaceNeighbours:
    """Stored faces' nearest cohort similarities (rows aligned with ``face_ids``)."""

    cohort_id: str
    face_ids: I64
    positions: I32  # (faces, keep) positions in the cohort
    similarities: F32  # (faces, keep)


class PendingNeighbours:
    """Neighbour lists loaded into the records but not yet turned into statistics."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, workspace: Workspace) -> PendingNeighbours:
        """The workspace's pending lists (beside the cluster's shards)."""
        return cls(workspace.home / "cluster" / "snorm-pending")

    def save(self, name: str, found: FaceNeighbours) -> None:
        """Write one shard's lists atomically (temporary file, fsync, rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        with tmp.open("wb") as fh:
            np.savez(
                fh,
                cohort_id=np.asarray(found.cohort_id),
                face_ids=found.face_ids,
                positions=found.positions,
                similarities=found.similarities,
            )
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.directory / f"{name}.npz")

    def batches(self) -> Iterator[FaceNeighbours]:
        """Every pending shard's lists, one shard at a time (unreadable files are skipped)."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.npz")):
            try:
                with np.load(path) as data:
                    yield FaceNeighbours(
                        str(data["cohort_id"]),
                        data["face_ids"].astype(np.int64),
                        data["positions"].astype(np.int32),
                        data["similarities"].astype(np.float32),
                    )
            except (OSError, ValueError, KeyError):
                continue  # derived data: the derive step computes those faces itself

    def clear(self) -> int:
        """Remove every pending file (after a derive used or outdated them); how many."""
        if not self.directory.is_dir():
            return 0
        paths = list(self.directory.iterdir())
        for path in paths:
            path.unlink(missing_ok=True)
        return len(paths)
