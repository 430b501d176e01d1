"""The index over a database's faces: growth into larger index types, purges, reindex."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from synthetic import populate, purge_accounts

from nextofkin.gallery.index import FaissIndex, factory_tier, reconcile, reindex
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.records import Face
from nextofkin.identify.derived import refresh_derived
from nextofkin.settings import IndexSettings, Settings
from nextofkin.workspace import Workspace


def db_face_ids(ws: Workspace) -> set[int]:
    with ws.session() as session:
        return set(session.scalars(select(Face.id)))


def test_index_grows_through_the_tiers_and_purges_on_each(settings: Settings) -> None:
    settings.index = IndexSettings(flat_max_faces=300, hnsw_max_faces=900, pq_bytes=8)
    ws = Workspace.open(settings)
    try:
        first = populate(ws, 80, 3, seed=1, source="a")  # 240 faces: exact
        report = refresh_derived(ws)
        index = open_index(ws)
        assert isinstance(index, FaissIndex)
        assert index.description.factory == "Flat" and report.index_total == 240

        second = populate(ws, 120, 3, seed=2, source="b")  # 600: HNSW
        refresh_derived(ws)
        index = open_index(ws)
        assert index.description.factory == "HNSW32,Flat"
        assert index.description.build["auto"] is True
        assert set(index.ids().tolist()) == db_face_ids(ws)

        # Purge on HNSW: tombstones, excluded from every search at once.
        victims = list(second.faces)[:5]
        gone = purge_accounts(ws, victims)
        refresh_derived(ws)
        index = open_index(ws)
        assert isinstance(index, FaissIndex) and index.tombstones == len(gone)
        assert set(index.ids().tolist()) == db_face_ids(ws)
        probes = np.stack([second.centres[v] for v in victims])
        _, found = index.search(probes, 50)
        assert not set(found.ravel().tolist()) & set(gone)

        third = populate(ws, 150, 3, seed=3, source="c")  # 1185: IVF-PQ with re-ranking
        refresh_derived(ws)
        index = open_index(ws)
        assert factory_tier(index.description.factory) == 2
        assert index.description.factory.endswith(",RFlat")
        assert set(index.ids().tolist()) == db_face_ids(ws)
        names = list(third.faces)[:20]
        scores, found = index.search(np.stack([third.centres[n] for n in names]), 3)
        for name, row in zip(names, found, strict=True):
            assert set(row.tolist()) == set(third.faces[name])
        assert float(scores.min()) > 0.8

        gone = purge_accounts(ws, list(first.faces)[:4] + names[:4])
        refresh_derived(ws)
        index = open_index(ws)
        assert set(index.ids().tolist()) == db_face_ids(ws)
        _, found = index.search(np.stack([third.centres[n] for n in names[:4]]), 20)
        assert not set(found.ravel().tolist()) & set(gone)
    finally:
        ws.close()


def test_forced_factory_and_reindex(settings: Settings) -> None:
    ws = Workspace.open(settings)
    try:
        gallery = populate(ws, 150, 2, seed=4)
        refresh_derived(ws)
        index = open_index(ws)
        assert index.description.factory == "Flat"
        calibration = index.description.calibration
        with ws.session() as session:
            report = reindex(index, session, factory="HNSW16,Flat")
        index.save()
        assert report.factory == "HNSW16,Flat" and report.faces == 300
        index = open_index(ws)
        assert index.description.factory == "HNSW16,Flat"
        assert index.description.calibration == calibration
        assert index.description.build["auto"] is False
        # An explicit choice is kept by later reconciles even though the size says Flat.
        with ws.session() as session:
            assert reconcile(index, session).rebuilt is False
        name = next(iter(gallery.faces))
        _, found = index.search(gallery.centres[name][None, :], 2)
        assert set(found[0].tolist()) == set(gallery.faces[name])
    finally:
        ws.close()
    # The settings' factory applies at the next reconcile.
    settings.index = IndexSettings(factory="IVF16,Flat")
    ws = Workspace.open(settings)
    try:
        refresh_derived(ws)
        assert open_index(ws).description.factory == "IVF16,Flat"
    finally:
        ws.close()


def test_reindex_command(settings: Settings) -> None:
    ws = Workspace.open(settings)
    try:
        populate(ws, 40, 2, seed=5)
        refresh_derived(ws)
    finally:
        ws.close()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "nextofkin", "-w", str(settings.home)]
    if settings.database_url:
        env["NEXTOFKIN_DATABASE_URL"] = settings.database_url
    out = subprocess.run(
        [*cli, "reindex", "--factory", "HNSW8,Flat", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout)["factory"] == "HNSW8,Flat"
    subprocess.run([*cli, "user", "add", "ada", "--role", "admin"], env=env, check=True)
    status = json.loads(
        subprocess.run(
            [*cli, "--user", "ada", "status", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
    )
    assert status["index_factory"] == "HNSW8,Flat" and status["index_faces"] == 80
    # Another embedder's vectors are refused, with a non-zero exit.
    description = Path(settings.home) / "index" / "faces.json"
    stored = json.loads(description.read_text())
    stored["model"] = "someone-elses-model"
    description.write_text(json.dumps(stored))
    bad = subprocess.run([*cli, "reindex"], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "ModelMismatch" in bad.stderr


@pytest.mark.parametrize("backend", ["faiss"])
def test_ingest_adds_only_new_faces(settings: Settings, backend: str) -> None:
    ws = Workspace.open(settings)
    try:
        populate(ws, 30, 2, seed=6, source="one")
        first = refresh_derived(ws)
        again = refresh_derived(ws)
        assert (first.index_added, again.index_added, again.index_removed) == (60, 0, 0)
        populate(ws, 10, 2, seed=7, source="two")
        third = refresh_derived(ws)
        assert (third.index_added, third.index_total) == (20, 80)
    finally:
        ws.close()
