"""Milvus at scale (on Milvus Lite): the source partition key, purge by filter, and a reconcile
that compares counts per source and per id range instead of listing every id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from gallery_rows import add_posted_face
from nextofkin.gallery.index import reconcile
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.milvus_reconcile import source_counts
from nextofkin.gallery.records import Account, Face, Source
from nextofkin.identify.derived import refresh_derived
from nextofkin.settings import IndexSettings, Settings
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
