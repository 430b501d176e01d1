"""The Milvus backend (on Milvus Lite): the same operations and identify results as FAISS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from synthetic import populate, purge_accounts

from nextofkin.errors import ModelMismatch
from nextofkin.gallery.index import FaissIndex, reconcile
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.records import Face
from nextofkin.identify.derived import cohort_store, refresh_derived
from nextofkin.settings import IndexSettings, Settings
from nextofkin.workspace import Workspace

pytest.importorskip("milvus_lite")


def milvus_settings(settings: Settings, tmp_path: Path) -> Settings:
    copy = settings.model_copy(deep=True)
    copy.index = IndexSettings(
        backend="milvus",
        milvus_uri=str(tmp_path / "milvus.db"),
        milvus_index_type="FLAT",
    )
    return copy


def test_milvus_index_operations(settings: Settings, tmp_path: Path) -> None:
    from nextofkin.gallery.milvus_index import MilvusIndex

    ws = Workspace.open(milvus_settings(settings, tmp_path))
    try:
        gallery = populate(ws, 60, 3, seed=11)
        report = refresh_derived(ws)
        assert report.index_total == 180 and report.recalibrated
        index = open_index(ws)
        assert isinstance(index, MilvusIndex)
        assert index.description.calibration is not None
        with ws.session() as session:
            db_ids = set(session.scalars(select(Face.id)))
        assert set(index.ids().tolist()) == db_ids and len(index) == 180
        name = next(iter(gallery.faces))
        scores, found = index.search(gallery.centres[name][None, :], 3)
        assert set(found[0].tolist()) == set(gallery.faces[name])
        assert scores[0, 0] > 0.9

        gone = purge_accounts(ws, [name])
        with ws.session() as session:
            changes = reconcile(index, session)
        assert changes.removed == len(gone) and len(index) == 180 - len(gone)
        assert index.remove(gone) == 0
        _, found = index.search(gallery.centres[name][None, :], 10)
        assert not set(found[0].tolist()) & set(gone)
        index.save()
        index.close()

        # The description lives in a sidecar keyed by collection, and guards the model.
        sidecar = ws.index_dir / "milvus-faces.json"
        assert sidecar.exists()
        reopened = open_index(ws)
        assert len(reopened) == 180 - len(gone)
        assert reopened.description.calibration == index.description.calibration
        reopened.close()  # type: ignore[attr-defined]
        other = embedder_spec(ws)
        other = type(other)("other-model", other.dim, other.alignment, 0.8, 0.9)
        with pytest.raises(ModelMismatch):
            MilvusIndex.open(ws.index_dir, other, policy=ws.settings.index)
    finally:
        ws.close()


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_milvus_gives_the_same_identify_results_as_faiss(
    lfw_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    from lfw_gallery import build
    from nextofkin.identify.derived import ingest
    from nextofkin.identify.search import Searcher, fuse
    from nextofkin.identify.service import analyse_probes, probe_faces
    from nextofkin.vision.pipeline import FacePipeline
    from nextofkin.vision.registry import default_registry

    gallery = build(lfw_dir, tmp_path / "gallery", owners=12, distractors=88, seed=3)
    ws = Workspace.open(settings)
    ws_milvus = Workspace.open(milvus_settings(settings, tmp_path))
    try:
        ingest(ws, gallery.root, workers=2)
        faiss_index = open_index(ws)
        assert isinstance(faiss_index, FaissIndex)
        # The Milvus collection is filled and calibrated from the same records.
        refresh_derived(ws_milvus, force_calibration=True)
        milvus_index = open_index(ws_milvus)
        assert len(milvus_index) == len(faiss_index) > 100
        faiss_cal = faiss_index.description.calibration
        milvus_cal = milvus_index.description.calibration
        assert faiss_cal is not None and milvus_cal is not None
        match = pytest.approx(faiss_cal["match_threshold"], abs=1e-4)
        assert milvus_cal["match_threshold"] == match

        pipeline = FacePipeline.from_settings(ws.settings.vision, default_registry())
        vision = ws.settings.vision
        compared = 0
        for account, photo in sorted(gallery.held_out.items()):
            # The product's probe half once, then the gallery half on each backend.
            analyses = analyse_probes(
                pipeline, [photo], max_pixels=vision.max_pixels, max_bytes=vision.max_bytes
            )
            probes, faces = probe_faces(analyses)
            vector = fuse([f.embedding for f in faces], [f.quality.overall for f in faces])
            results = []
            for index in (faiss_index, milvus_index):
                with ws.session() as session:
                    searcher = Searcher(session, index, cohorts=cohort_store(ws))
                    results.append(searcher.search_vector(vector, probes, 10))
            ours, theirs = results
            assert [c.account for c in ours.candidates] == [c.account for c in theirs.candidates]
            for a, b in zip(ours.candidates, theirs.candidates, strict=True):
                assert a.score == pytest.approx(b.score, abs=1e-4)
                assert a.decision == b.decision
            assert ours.candidates[0].account == account
            compared += 1
        assert compared == 12

        # A later ingest of the same export with two new photos processes only those two, and
        # both indexes take exactly their faces.
        import json
        import shutil

        before = len(faiss_index)
        lines = [json.loads(x) for x in (gallery.root / "photos.jsonl").read_text().splitlines()
                 if x.startswith("{") and x.endswith("}")]  # fmt: skip
        new = sorted((lfw_dir / "images" / gallery.owners["acc03"]).glob("*.jpg"))[3:5]
        with (gallery.root / "photos.jsonl").open("a") as handle:
            for n, path in enumerate(new):
                shutil.copyfile(path, gallery.root / "p" / f"new{n}.jpg")
                handle.write(json.dumps({"account": "acc03", "path": f"p/new{n}.jpg"}) + "\n")
        assert len(lines) > 10
        report = ingest(ws, gallery.root, workers=1)
        assert (report.photos_added, report.images_processed) == (2, 2)
        assert report.index_total == before + report.faces_added
        derived = refresh_derived(ws_milvus)
        assert derived.index_added == report.faces_added
        assert len(open_index(ws)) == len(milvus_index) == before + report.faces_added
        milvus_index.close()  # type: ignore[attr-defined]
    finally:
        ws_milvus.close()
        ws.close()
