"""Parquet shards: what the analysis actors write and the loader reads.

One row per distinct image content: its hash, the postings (photo ids) it serves, and every
face's box, landmarks, scores, rotation and vector (float32, stored exactly), and, when the
workspace had a score-normalisation cohort, each face's nearest cohort similarities
(``neighbours.py``). A shard is
written to a temporary name and renamed, so a shard file that exists is whole; a temporary one
left by a killed worker is removed and its images are analysed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.gallery.analysis import FaceData, ImageResult
from nextofkin.gallery.cluster.neighbours import F32, I32

SUFFIX = ".parquet"
_TMP = ".tmp-"


@dataclass(frozen=True)
class ShardJob:
    """One image content to analyse: where to read it, its hash, the postings it serves."""

    sha256: str
    path: str
    photo_ids: tuple[int, ...]


@dataclass(frozen=True)
class ShardRow:
    """One analysed image as stored in a shard (``cohort_id``: the cohort its faces' nearest
    cohort positions and similarities, one row per face, were computed against)."""

    result: ImageResult
    photo_ids: tuple[int, ...]
    cohort_id: str | None = None
    positions: I32 | None = None
    similarities: F32 | None = None


def shard_name(jobs: Iterable[ShardJob]) -> str:
    """A shard's name: a hash of its image contents, so the same work has the same name."""
    digest = hashlib.sha256("\n".join(sorted(j.sha256 for j in jobs)).encode())
    return digest.hexdigest()[:32]


def jobs_to_json(jobs: list[ShardJob]) -> str:
    """The jobs of one shard as the JSON text that travels to an actor."""
    return json.dumps([[j.sha256, j.path, list(j.photo_ids)] for j in jobs])


def jobs_from_json(text: str) -> list[ShardJob]:
    """The inverse of :func:`jobs_to_json`."""
    return [ShardJob(sha, path, tuple(int(i) for i in ids)) for sha, path, ids in json.loads(text)]


def _columns(rows: list[ShardRow]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {
        k: []
        for k in [
            "sha256",
            "path",
            "size_bytes",
            "width",
            "height",
            "tried",
            "error",
            "photo_ids",
            "boxes",
            "landmarks",
            "detection_score",
            "quality",
            "quality_parts",
            "rotation",
            "embedding",
            "cohort_id",
            "cohort_positions",
            "cohort_similarities",
        ]
    }
    for row in rows:
        r = row.result
        cols["sha256"].append(r.sha256)
        cols["path"].append(r.path)
        cols["size_bytes"].append(r.size_bytes)
        cols["width"].append(r.width)
        cols["height"].append(r.height)
        cols["tried"].append(list(r.tried))
        cols["error"].append(r.error)
        cols["photo_ids"].append(list(row.photo_ids))
        cols["boxes"].append([list(f.box) for f in r.faces])
        cols["landmarks"].append(json.dumps([f.landmarks for f in r.faces]))
        cols["detection_score"].append([f.detection_score for f in r.faces])
        cols["quality"].append([f.quality for f in r.faces])
        cols["quality_parts"].append(json.dumps([f.quality_parts for f in r.faces]))
        cols["rotation"].append([f.rotation for f in r.faces])
        cols["embedding"].append(
            [np.asarray(f.embedding, dtype=np.float32).tolist() for f in r.faces]
        )
        cols["cohort_id"].append(row.cohort_id)
        for key, array in (("positions", row.positions), ("similarities", row.similarities)):
            cols[f"cohort_{key}"].append([] if array is None else array.tolist())
    return cols


def _schema() -> Any:
    import pyarrow as pa

    floats = pa.list_(pa.float64())
    return pa.schema(
        [
            ("sha256", pa.string()),
            ("path", pa.string()),
            ("size_bytes", pa.int64()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("tried", pa.list_(pa.string())),
            ("error", pa.string()),
            ("photo_ids", pa.list_(pa.int64())),
            ("boxes", pa.list_(floats)),
            ("landmarks", pa.string()),
            ("detection_score", floats),
            ("quality", floats),
            ("quality_parts", pa.string()),
            ("rotation", pa.list_(pa.int32())),
            ("embedding", pa.list_(pa.list_(pa.float32()))),
            ("cohort_id", pa.string()),
            ("cohort_positions", pa.list_(pa.list_(pa.int32()))),
            ("cohort_similarities", pa.list_(pa.list_(pa.float32()))),
        ]
    )


def write_shard(directory: Path, name: str, rows: list[ShardRow]) -> Path:
    """Write ``rows`` as ``<name>.parquet`` atomically (temporary file, fsync, rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{name}{SUFFIX}"
    tmp = directory / f"{name}{SUFFIX}{_TMP}{uuid.uuid4().hex[:8]}"
    table = pa.Table.from_pydict(_columns(rows), schema=_schema())
    pq.write_table(table, tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(final)
    return final


def read_shard(path: Path) -> list[ShardRow]:
    """The rows of a whole shard file."""
    import pyarrow.parquet as pq

    data = pq.read_table(path).to_pydict()
    rows = []
    for i, sha in enumerate(data["sha256"]):
        landmarks = json.loads(data["landmarks"][i])
        parts = json.loads(data["quality_parts"][i])
        faces = [
            FaceData(
                box=(box[0], box[1], box[2], box[3]),
                landmarks=landmarks[j],
                detection_score=data["detection_score"][i][j],
                quality=data["quality"][i][j],
                quality_parts=parts[j],
                rotation=data["rotation"][i][j],
                embedding=np.asarray(data["embedding"][i][j], dtype=np.float32),
            )
            for j, box in enumerate(data["boxes"][i])
        ]
        result = ImageResult(
            sha,
            data["path"][i],
            data["size_bytes"][i],
            data["width"][i],
            data["height"][i],
            faces,
            list(data["tried"][i]),
            data["error"][i],
        )
        rows.append(ShardRow(result, tuple(data["photo_ids"][i]), *_neighbours(data, i)))
    return rows


def _neighbours(data: dict[str, list[Any]], i: int) -> tuple[str | None, I32 | None, F32 | None]:
    """Row ``i``'s cohort id, positions and similarities (``None`` when it has none)."""
    cohort_id = data.get("cohort_id", [None] * (i + 1))[i]
    if cohort_id is None:
        return None, None, None
    positions = np.asarray(data["cohort_positions"][i], dtype=np.int32)
    similarities = np.asarray(data["cohort_similarities"][i], dtype=np.float32)
    return cohort_id, positions, similarities


def finished_shards(directory: Path) -> list[Path]:
    """Whole shard files in ``directory``; half-written ones (a killed writer's) are removed."""
    if not directory.is_dir():
        return []
    for path in directory.glob(f"*{SUFFIX}{_TMP}*"):
        path.unlink(missing_ok=True)
    return sorted(directory.glob(f"*{SUFFIX}"))
