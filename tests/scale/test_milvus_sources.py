"""Milvus at scale (on Milvus Lite): the source partition key, purge by filter, and a reconcile
that compares counts per source and per id range instead of listing every id."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from gallery_rows import add_posted_face
from nextofkin.cases.purge import purge_source
from nextofkin.gallery.index import reconcile
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.milvus_reconcile import source_counts
from nextofkin.gallery.records import Account, Face, Photo, Source
from nextofkin.identify.derived import refresh_derived
from nextofkin.settings import IndexSettings, Settings
from nextofkin.users.service import add_user
from nextofkin.workspace import Workspace

pytest.importorskip("milvus_lite")


def _open(settings: Settings, tmp_path: Path) -> Workspace:
    copy = settings.model_copy(deep=True)
    copy.index = IndexSettings(
        backend="milvus", milvus_uri=str(tmp_path / "milvus.db"), milvus_index_type="FLAT"
    )
    return Workspace.open(copy)


def _posted(ws: Workspace, source: str, accounts: int, tmp_path: Path, seed: int) -> None:
    """``accounts`` accounts of ``source``, each posting three photos of one face each."""
    spec = embedder_spec(ws)
    rng = np.random.default_rng(seed)
    with ws.session() as session:
        src = Source(name=source, root=f"/x/{source}", layout="folders")
        session.add(src)
        session.flush()
        for a in range(accounts):
            account = Account(source_id=src.id, external_id=f"{source}{a}", roles_dirty=False)
            session.add(account)
            session.flush()
            for p in range(3):
                path = tmp_path / f"{source}-{a}-{p}.jpg"
                path.write_bytes(f"{source}/{a}/{p}".encode())
                vector = rng.standard_normal(spec.dim)
                add_posted_face(session, account, path, vector / np.linalg.norm(vector),
                                model=spec.name, alignment=spec.alignment)  # fmt: skip


def test_sources_purge_by_filter_and_counting_reconcile(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nextofkin.gallery.milvus_index import MilvusIndex

    ws = _open(settings, tmp_path)
    try:
        _posted(ws, "vk", 30, tmp_path, 1)
        _posted(ws, "ok", 20, tmp_path, 2)
        # The first fill is a bulk insert in pages, with no id listed.
        listed: list[str] = []
        real = MilvusIndex.ids_where

        def spy(self: MilvusIndex, where: str) -> np.ndarray:
            listed.append(where)
            return real(self, where)

        monkeypatch.setattr(MilvusIndex, "ids_where", spy)
        refresh_derived(ws)
        index = open_index(ws)
        assert isinstance(index, MilvusIndex) and index.partitioned
        with ws.session() as session:
            sources = dict(session.execute(select(Source.name, Source.id)).all())
            model = index.description.model
            want = source_counts(session, model)
        assert want == {sources["vk"]: 90, sources["ok"]: 60}
        for name, n in (("vk", 90), ("ok", 60)):
            assert index.count(f"source == {sources[name]}") == n

        assert listed == []
        # Nothing to repair: counts agree, and again no id is listed.
        with ws.session() as session:
            report = reconcile(index, session, chunk=16)
        assert (report.added, report.removed, report.total) == (0, 0, 150) and listed == []

        # Damage: two faces of "ok" lost, a stray row in "vk", a face in the unknown source 0.
        with ws.session() as session:
            ok_ids = sorted(index.ids_where(f"source == {sources['ok']}").tolist())
            face = session.get_one(Face, ok_ids[5])
            stray = np.asarray([10**6], dtype=np.int64)
            index.client.delete(index.collection, ids=ok_ids[:2])
            index.add_with_sources(stray, face.embedding[None, :], np.asarray([sources["vk"]]))
            index.add(np.asarray([ok_ids[5]]), face.embedding[None, :])  # moved to source 0
        listed.clear()
        with ws.session() as session:
            report = reconcile(index, session, chunk=16)
        assert report.total == 150 and report.removed == 2 and report.added == 3
        assert index.count(f"source == {sources['ok']}") == 60
        assert index.count(f"source == {sources['vk']}") == 90 and index.count("source == 0") == 0
        # Only the ranges whose counts differed were listed, not every id of the collection.
        assert 0 < len(listed) < 150 // 16
        assert all("id >=" in where or "source == 0" in where for where in listed)
        with ws.session() as session:
            assert set(index.ids().tolist()) == set(session.scalars(select(Face.id)))

        # A source is purged by one filter.
        assert index.remove_source(sources["vk"]) == 90
        assert len(index) == 60 and index.count(f"source == {sources['vk']}") == 0
        index.close()
    finally:
        ws.close()


def test_purge_source_deletes_by_filter_and_leaves_no_vector(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nextofkin.gallery.milvus_index import MilvusIndex

    ws = _open(settings, tmp_path)
    try:
        with ws.session() as session:
            add_user(session, None, "ada", "admin")
        _posted(ws, "ok", 8, tmp_path, 2)  # the lower source id: shared images are filed here
        _posted(ws, "vk", 10, tmp_path, 1)
        spec = embedder_spec(ws)
        with ws.session() as session:
            ok, vk = (
                session.scalars(select(Source).where(Source.name == n)).one() for n in ("ok", "vk")
            )
            vk0 = session.scalars(select(Account).where(Account.external_id == "vk0")).one()
            ok0 = session.scalars(select(Account).where(Account.external_id == "ok0")).one()
            # An "ok" account's photo that came through the "vk" export: filed under vk, purged.
            path = tmp_path / "ok0-via-vk.jpg"
            path.write_bytes(b"ok0 via vk")
            via_vk = add_posted_face(session, ok0, path, np.eye(spec.dim)[0], model=spec.name,
                                     alignment=spec.alignment, source_id=vk.id)  # fmt: skip
            # A "vk" account's photo that "ok" also posted: filed under ok, kept (owned by vk0).
            path = tmp_path / "vk0-shared.jpg"
            path.write_bytes(b"vk0 shared")
            shared = add_posted_face(session, vk0, path, np.eye(spec.dim)[1], model=spec.name,
                                     alignment=spec.alignment)  # fmt: skip
            session.add(Photo(source_id=ok.id, account_id=ok0.id, rel_path="s.jpg",
                              status="done", image_id=shared.image, tagged=[]))  # fmt: skip
            ok_id, vk_id = ok.id, vk.id
        refresh_derived(ws)
        index = open_index(ws)
        assert isinstance(index, MilvusIndex)
        assert index.count(f"id == {shared.face} and source == {ok_id}") == 1
        assert index.count(f"id == {via_vk.face} and source == {vk_id}") == 1
        index.close()
        by_id: list[list[int]] = []
        real = MilvusIndex.remove

        def spy(self: MilvusIndex, ids: Iterable[int]) -> int:
            by_id.append(sorted(int(i) for i in ids))
            return real(self, ids)

        monkeypatch.setattr(MilvusIndex, "remove", spy)
        with ws.session() as session:
            purged = sorted([*session.scalars(
                select(Face.id).join(Photo, Photo.image_id == Face.image_id)
                .where(Photo.source_id == ok_id, Face.id != shared.face)
            ), via_vk.face])  # fmt: skip
            vectors = [np.asarray(session.get_one(Face, f).embedding, "<f4").tobytes()
                       for f in purged]  # fmt: skip
        assert _files_holding(tmp_path / "milvus.db", vectors)  # the scan can see them
        report = purge_source(ws, "ada", "ok")
        assert report.faces == len(purged) == 25
        # The source went by one filter; by id only the purged face filed under "vk".
        assert [ids for ids in by_id if ids] == [[via_vk.face]]
        index = open_index(ws)
        assert isinstance(index, MilvusIndex)
        assert index.count(f"source == {ok_id}") == 0
        assert index.count(f"id in {purged}") == 0
        assert list(index.client.get(index.collection, ids=purged)) == []
        # Gone from the files too (Milvus Lite keeps deleted rows in its segments: rebuilt).
        assert _files_holding(tmp_path / "milvus.db", vectors) == []
        # The shared image's face stays, now filed under the source that still posts it.
        assert index.count(f"id == {shared.face} and source == {vk_id}") == 1
        with ws.session() as session:
            assert set(index.ids().tolist()) == set(session.scalars(select(Face.id)))
        index.close()
    finally:
        ws.close()


def _files_holding(directory: Path, vectors: list[bytes]) -> list[str]:
    """Files under ``directory`` that hold any of ``vectors`` byte for byte."""
    found = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if any(v in data for v in vectors):
                found.append(str(path.relative_to(directory)))
    return found
