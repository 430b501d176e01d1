"""S-norm statistics finished from the cluster actors' nearest-cohort lists equal the full product.

A cluster ingest into a gallery that has a cohort ships the cohort to its actors; each keeps a
new face's nearest cohort similarities (``gallery/cluster/neighbours.py``) and the derive step
finishes the statistics from them once owner resolution named each face's account. Here the
lists are made the way the actors make them, for new faces of new accounts and of an account
with many cohort faces (whose exclusion the list must survive), and the statistics stored from
them are compared with the full product of the one-machine path.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from synthetic import populate, unit

from nextofkin.gallery.cluster.neighbours import FaceNeighbours, PendingNeighbours, ShardCohort
from nextofkin.gallery.index import reconcile
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord, Image
from nextofkin.identify.normalise import Cohort, CohortStore, refresh_cohort
from nextofkin.workspace import Workspace


def _add_faces(ws: Workspace, account: str, vectors: np.ndarray, tag: str) -> list[int]:
    """Owner faces for an existing account (one image each); their ids."""
    with ws.session() as session:
        account_id = session.scalar(select(Account.id).where(Account.external_id == account))
        model = session.scalars(select(Face)).first()
        assert account_id is not None and model is not None
        ids = []
        for i, vector in enumerate(vectors):
            sha = hashlib.sha256(f"{tag}-{i}".encode()).hexdigest()
            image = Image(sha256=sha, path=f"/x/{tag}/{i}.jpg", width=9, height=9, size_bytes=9,
                          detector="synthetic", tried=[])  # fmt: skip
            session.add(image)
            session.flush()
            face = Face(image_id=image.id, ordinal=0, left=0.0, top=0.0, right=9.0, bottom=9.0,
                        landmarks=[], detection_score=1.0, quality=0.9, quality_parts={},
                        rotation=0, model=model.model, alignment=model.alignment,
                        embedding=vector.astype(np.float32))  # fmt: skip
            session.add(face)
            session.flush()
            ids.append(face.id)
        session.execute(
            insert(FaceRoleRecord),
            [{"account_id": account_id, "face_id": f, "role": FaceRole.OWNER.value,
              "confidence": 1.0, "cluster": 0} for f in ids],
        )  # fmt: skip
    return ids


def _vectors(session: Session, ids: list[int]) -> dict[int, np.ndarray]:
    return dict(session.execute(select(Face.id, Face.embedding).where(Face.id.in_(ids))).all())


def _expected(cohort: Cohort, ws: Workspace, ids: np.ndarray) -> np.ndarray:
    """The one-machine path's statistics: the full product, own account and face left out."""
    with ws.session() as session:
        rows = _vectors(session, [int(i) for i in ids])
        owner = dict(
            session.execute(
                select(FaceRoleRecord.face_id, FaceRoleRecord.account_id).where(
                    FaceRoleRecord.face_id.in_(ids.tolist())
                )
            ).all()
        )
    vectors = np.stack([rows[int(i)] for i in ids]).astype(np.float32)
    accounts = np.asarray([owner[int(i)] for i in ids], dtype=np.int64)
    mean, std = cohort.stats(vectors, accounts, ids)
    return np.stack([mean, std], axis=1)


def _setup(ws: Workspace) -> tuple[Cohort, np.ndarray, np.ndarray]:
    """A gallery with a cohort (one account with 40 faces in it), then 36 new faces."""
    gallery = populate(ws, 200, 3, seed=4, spread=0.9)
    crowded = "synthetic-000007"
    dim = gallery.centres[crowded].shape[0]  # the default embedder's
    rng = np.random.default_rng(1)
    near = gallery.centres[crowded] + rng.standard_normal((37, dim)) * 0.9 / np.sqrt(dim)
    _add_faces(ws, crowded, unit(near), "crowded")
    index = open_index(ws)
    store = CohortStore(ws.index_dir / "snorm")
    with ws.session() as session:
        reconcile(index, session)
        cohort = refresh_cohort(session, index, store, ws.settings.score).cohort
    assert cohort is not None and len(cohort.cohort_faces) == 637  # the whole gallery
    # New faces: six of the crowded account (most of its nearest cohort faces are its own, all
    # left out), thirty of ten new accounts.
    more = gallery.centres[crowded] + rng.standard_normal((6, dim)) * 0.9 / np.sqrt(dim)
    ids = _add_faces(ws, crowded, unit(more), "more")
    ids += [f for faces in populate(ws, 10, 3, seed=5, source="b").faces.values() for f in faces]
    new = np.asarray(sorted(ids), dtype=np.int64)
    with ws.session() as session:
        rows = _vectors(session, [int(i) for i in ids])
    return cohort, new, np.stack([rows[int(i)] for i in new]).astype(np.float32)


def _refresh(ws: Workspace, found: list[FaceNeighbours]) -> tuple[Cohort, int, int]:
    index = open_index(ws)
    with ws.session() as session:
        reconcile(index, session)
        done = refresh_cohort(
            session, index, CohortStore(ws.index_dir / "snorm"), ws.settings.score,
            neighbours=found,
        )  # fmt: skip
    assert done.cohort is not None and not done.redrawn
    return done.cohort, done.faces_from_shards, done.faces_computed


def test_statistics_from_the_lists_equal_the_full_product(workspace: Workspace) -> None:
    ws = workspace
    cohort, new, vectors = _setup(ws)
    shard = ShardCohort.of(
        cohort.cohort_id, cohort.cohort_vectors, cohort.cohort_accounts, cohort.k
    )
    assert shard.keep == cohort.k + 40 + 1
    positions, similarities = shard.nearest(vectors)
    # Through the pending file, as the cluster engine stores them between load and derive.
    pending = PendingNeighbours.of(ws)
    pending.save("shard-1", FaceNeighbours(cohort.cohort_id, new, positions, similarities))
    stored, from_lists, computed = _refresh(ws, list(pending.batches()))
    assert (from_lists, computed) == (len(new), 0)
    mean, std, known = stored.lookup(new)
    assert known.all()
    got = np.stack([mean, std], axis=1)
    np.testing.assert_allclose(got, _expected(stored, ws, new), rtol=0, atol=1e-6)
    # The crowded account's new faces (the first six ids) really lost most of their lists.
    accounts, counts = np.unique(np.asarray(cohort.cohort_accounts), return_counts=True)
    own = np.asarray(cohort.cohort_accounts)[positions[:6]] == accounts[counts.argmax()]
    assert own.sum(axis=1).min() >= 30


def test_short_or_foreign_lists_are_computed_in_full(workspace: Workspace) -> None:
    ws = workspace
    cohort, new, vectors = _setup(ws)
    short = ShardCohort(cohort.cohort_id, cohort.cohort_vectors, cohort.k)  # no room to exclude
    positions, similarities = short.nearest(vectors)
    foreign = FaceNeighbours("another-cohort", new, positions, similarities)
    mine = FaceNeighbours(cohort.cohort_id, new, positions, similarities)
    stored, from_lists, computed = _refresh(ws, [foreign, mine])
    # New accounts' faces exclude nothing (their k are all there); the crowded account's six
    # lose entries and are computed from the full product; the foreign cohort's are ignored.
    assert (from_lists, computed) == (len(new) - 6, 6)
    mean, std, _ = stored.lookup(new)
    got = np.stack([mean, std], axis=1)
    np.testing.assert_allclose(got, _expected(stored, ws, new), rtol=0, atol=1e-6)
