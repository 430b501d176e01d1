"""The cluster ingest's loader on any database (SQLite here, PostgreSQL with COPY in CI).

A shard written to Parquet reads back exactly; loading it stores the images, faces (float32
vectors bit for bit) and postings in one transaction with its ledger row; a loaded shard is never
loaded again; a load that fails half-way leaves nothing, ledger row included; content already
stored is linked, not stored twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from nextofkin.gallery.analysis import FaceData, ImageResult
from nextofkin.gallery.cluster.ledger import ClusterShard
from nextofkin.gallery.cluster.loader import FaceLabel, load_shard
from nextofkin.gallery.cluster.shards import (
    ShardJob,
    ShardRow,
    finished_shards,
    read_shard,
    shard_name,
    write_shard,
)
from nextofkin.gallery.records import Account, Face, Image, Photo, PhotoStatus, Source
from nextofkin.workspace import Workspace

pytest.importorskip("pyarrow")
LABEL = FaceLabel("test-model", "test-align", "hog")


def _face(rng: np.random.Generator) -> FaceData:
    vector = rng.standard_normal(128).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return FaceData(
        box=(1.5, 2.25, 40.0, 44.125),
        landmarks=[[1.0, 2.0], [3.5, 4.0]],
        detection_score=0.97,
        quality=0.8,
        quality_parts={"size": 0.9, "pose": 0.7},
        rotation=90,
        embedding=vector,
    )


def _setup(ws: Workspace, n: int) -> tuple[int, list[int]]:
    with ws.session() as session:
        source = Source(name="s", root="/x", layout="folders")
        session.add(source)
        session.flush()
        account = Account(source_id=source.id, external_id="a1")
        session.add(account)
        session.flush()
        photos = [Photo(source_id=source.id, account_id=account.id, rel_path=f"p{i}.jpg",
                        status=PhotoStatus.PENDING) for i in range(n)]  # fmt: skip
        session.add_all(photos)
        session.flush()
        return source.id, [p.id for p in photos]


def _rows(photo_ids: list[int], seed: int = 0) -> list[ShardRow]:
    rng = np.random.default_rng(seed)
    rows = []
    for i, pid in enumerate(photo_ids):
        sha = hashlib.sha256(f"img{i}".encode()).hexdigest()
        if i == len(photo_ids) - 1:
            result = ImageResult(sha, f"/x/p{i}.jpg", 10, error="p.jpg: corrupt")
        else:
            faces = [_face(rng) for _ in range(i % 3)]
            result = ImageResult(sha, f"/x/p{i}.jpg", 100, 64, 48, faces, ["upright"])
        rows.append(ShardRow(result, (pid,)))
    return rows


def test_shard_round_trip_and_load(workspace: Workspace, tmp_path: Path) -> None:
    source_id, photo_ids = _setup(workspace, 7)
    rows = _rows(photo_ids)
    name = shard_name(ShardJob(r.result.sha256, r.result.path, r.photo_ids) for r in rows)
    path = write_shard(tmp_path, name, rows)
    (tmp_path / f"{name}.parquet.tmp-dead").write_bytes(b"half")  # a killed writer's file
    assert finished_shards(tmp_path) == [path]
    assert not list(tmp_path.glob("*.tmp-*"))
    back = read_shard(path)
    assert [r.photo_ids for r in back] == [r.photo_ids for r in rows]
    for a, b in zip(rows, back, strict=True):
        assert a.result.error == b.result.error and len(a.result.faces) == len(b.result.faces)
        for fa, fb in zip(a.result.faces, b.result.faces, strict=True):
            assert fa.embedding.tobytes() == fb.embedding.tobytes()
            assert (fa.box, fa.landmarks, fa.quality_parts) == (
                fb.box,
                fb.landmarks,
                fb.quality_parts,
            )

    with workspace.session() as session:
        loaded = load_shard(session, name, source_id, back, LABEL)
    assert (loaded.images, loaded.failed, loaded.skipped) == (6, 1, False)
    with workspace.session() as session:
        faces = session.scalars(select(Face).order_by(Face.image_id, Face.ordinal)).all()
        assert len(faces) == loaded.faces == sum(len(r.result.faces) for r in rows)
        stored = {f.embedding.tobytes() for f in faces}
        assert stored == {f.embedding.tobytes() for r in rows for f in r.result.faces}
        assert {f.model for f in faces} == {"test-model"}
        statuses = dict(session.execute(select(Photo.id, Photo.status)).all())
        assert sorted(statuses.values()) == ["done"] * 6 + ["failed"]
        assert session.scalar(select(func.count()).select_from(ClusterShard)) == 1
        assert session.scalar(select(Account.roles_dirty))
    # Loaded once: a second load of the same shard is skipped and adds nothing.
    with workspace.session() as session:
        assert load_shard(session, name, source_id, back, LABEL).skipped
    with workspace.session() as session:
        assert session.scalar(select(func.count(Image.id))) == 6


def test_failed_load_leaves_nothing_and_known_content_is_linked(workspace: Workspace) -> None:
    source_id, photo_ids = _setup(workspace, 5)
    rows = _rows(photo_ids[:4])
    # The shard's rows and its ledger row share one transaction: a failure before the commit
    # (here raised by hand, as a kill would end it) leaves neither.
    with pytest.raises(RuntimeError), workspace.session() as session:
        load_shard(session, "broken", source_id, rows, LABEL)
        raise RuntimeError("the process died before the commit")
    with workspace.session() as session:
        assert session.get(ClusterShard, "broken") is None
        assert session.scalar(select(func.count(Image.id))) == 0
    with workspace.session() as session:
        first = load_shard(session, "first", source_id, rows, LABEL)
    # The same content posted again (another photo) in a later shard: linked, not stored twice.
    again = [ShardRow(rows[1].result, (photo_ids[4],))]
    with workspace.session() as session:
        second = load_shard(session, "second", source_id, again, LABEL)
    assert (second.images, second.faces, second.linked) == (0, 0, 1)
    with workspace.session() as session:
        assert session.scalar(select(func.count(Image.id))) == first.images
        image_ids = session.scalars(
            select(Photo.image_id).where(Photo.id.in_([photo_ids[1], photo_ids[4]]))
        ).all()
        assert len(set(image_ids)) == 1 and image_ids[0] is not None
