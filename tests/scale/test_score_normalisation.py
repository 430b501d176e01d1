"""S-norm in the product search: equal to the evaluation engine's, kept current, crash-safe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from synthetic import populate, purge_accounts, unit

from nextofkin.errors import CalibrationError
from nextofkin.evaluation.engine import EngineOptions, Gallery, gallery_cohort, score_accounts
from nextofkin.gallery.index import reconcile
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.records import Face, FaceRoleRecord
from nextofkin.identify.calibration import Calibration
from nextofkin.identify.derived import cohort_store, refresh_derived
from nextofkin.identify.normalise import CohortStore, scorer_for
from nextofkin.identify.search import Searcher
from nextofkin.settings import ScoreSettings, Settings
from nextofkin.workspace import Workspace


def _searcher(ws: Workspace, session: Session) -> Searcher:
    return Searcher(session, open_index(ws), cohorts=cohort_store(ws))


def _engine_gallery(ws: Workspace) -> tuple[Gallery, list[int]]:
    """The workspace's owner faces as the evaluation engine's gallery (rows grouped by account)."""
    with ws.session() as session:
        rows = session.execute(
            select(FaceRoleRecord.account_id, Face.id, Face.embedding)
            .join(Face, Face.id == FaceRoleRecord.face_id)
            .order_by(FaceRoleRecord.account_id, Face.id)
        ).all()
    accounts = sorted({int(r[0]) for r in rows})
    position = {a: i for i, a in enumerate(accounts)}
    gallery = Gallery(
        accounts=[str(a) for a in accounts],
        vectors=np.stack([r[2] for r in rows]).astype(np.float32),
        owner=np.asarray([position[int(r[0])] for r in rows], dtype=np.int64),
    )
    return gallery, [int(r[1]) for r in rows]


def test_product_snorm_equals_the_evaluated_snorm(workspace: Workspace) -> None:
    ws = workspace
    populate(ws, 250, 3, seed=4, spread=0.9)
    refresh_derived(ws)
    cohort = cohort_store(ws).load()
    assert cohort is not None and len(cohort.cohort_faces) == 750  # the whole gallery

    gallery, face_ids = _engine_gallery(ws)
    options = EngineOptions(normalise="snorm", cohort=ws.settings.score.cohort_k)
    mean, std = gallery_cohort(gallery, options.cohort)
    got_mean, got_std, known = cohort.lookup(np.asarray(face_ids, dtype=np.int64))
    assert known.all()
    np.testing.assert_allclose(got_mean, mean, atol=1e-5)
    np.testing.assert_allclose(got_std, std, atol=1e-5)
    gallery.cohort_mean, gallery.cohort_std = mean, std

    rng = np.random.default_rng(9)
    probes = unit(
        gallery.vectors[::37] + rng.standard_normal((21, gallery.vectors.shape[1])) * 0.08
    )
    expected = score_accounts(gallery, probes, options)
    with ws.session() as session:
        searcher = _searcher(ws, session)
        for probe, row in zip(probes, expected, strict=True):
            result = searcher.search_vector(probe, [], top=10)
            assert result.score_kind.startswith("snorm")
            order = np.argsort(-row)[:10]
            assert [int(c.account_id) for c in result.candidates] == [
                int(gallery.accounts[i]) for i in order
            ]
            np.testing.assert_allclose([c.score for c in result.candidates], row[order], atol=2e-4)
            margin = result.candidates[0].margin
            assert margin == pytest.approx(row[order[0]] - row[order[1]], abs=1e-3)
    calibration = Calibration.from_dict(open_index(ws).description.calibration or {})
    assert calibration.score_kind == "snorm" and calibration.cohort == cohort.cohort_id


def test_cohort_follows_growth_and_purges(workspace: Workspace) -> None:
    ws = workspace
    first = populate(ws, 200, 3, seed=1, source="a")
    refresh_derived(ws)
    store = cohort_store(ws)
    drawn = store.load()
    assert drawn is not None

    # Growth under 10%: same cohort, statistics for the new faces, recalibrated.
    small = populate(ws, 10, 3, seed=2, source="b")
    report = refresh_derived(ws)
    kept = store.load()
    assert kept is not None and kept.cohort_id == drawn.cohort_id and report.recalibrated
    new_faces = np.asarray(sorted(f for v in small.faces.values() for f in v), np.int64)
    assert kept.lookup(new_faces)[2].all()

    # A purge of cohort members redraws: no purged vector stays behind.
    gone = purge_accounts(ws, list(first.faces)[:3])
    refresh_derived(ws)
    after = store.load()
    assert after is not None and after.cohort_id != drawn.cohort_id
    assert not set(gone) & set(np.asarray(after.cohort_faces).tolist())
    assert not after.lookup(np.asarray(gone, np.int64))[2].any()
    stored = open_index(ws).description.calibration or {}
    assert stored["cohort"] == after.cohort_id

    # Growth past 10%: redrawn again, over every face.
    populate(ws, 40, 3, seed=3, source="c")
    refresh_derived(ws)
    grown = store.load()
    assert grown is not None and grown.cohort_id != after.cohort_id
    assert len(grown.face_ids) == len(open_index(ws))


def test_small_gallery_is_scored_by_cosine(workspace: Workspace) -> None:
    ws = workspace
    populate(ws, 100, 3, seed=5)  # 300 identity faces < min_cohort
    refresh_derived(ws)
    assert cohort_store(ws).load() is None
    description = open_index(ws).description
    calibration = Calibration.from_dict(description.calibration or {})
    assert calibration.score_kind == "cosine" and calibration.cohort is None
    # Kin reads face-to-face confidence from the cosine calibration of the same searches.
    assert description.similarity_calibration is not None


def test_normalisation_can_be_switched_off(settings: Settings) -> None:
    settings.score = ScoreSettings(normalise="none")
    ws = Workspace.open(settings)
    try:
        populate(ws, 250, 3, seed=6)
        refresh_derived(ws)
        assert cohort_store(ws).load() is None
        stored = open_index(ws).description.calibration or {}
        assert stored["score_kind"] == "cosine"
    finally:
        ws.close()


def test_faces_indexed_after_the_last_refresh_are_scored_at_search_time(
    workspace: Workspace,
) -> None:
    ws = workspace
    populate(ws, 220, 3, seed=7, source="a")
    refresh_derived(ws)
    late = populate(ws, 5, 3, seed=8, source="b")
    # A crash after the index took the new faces but before the cohort statistics did.
    index = open_index(ws)
    with ws.session() as session:
        reconcile(index, session)
    index.save()
    name = next(iter(late.centres))
    with ws.session() as session:
        before = _searcher(ws, session).search_vector(late.centres[name], [], top=3)
    refresh_derived(ws)
    with ws.session() as session:
        after = _searcher(ws, session).search_vector(late.centres[name], [], top=3)
    assert before.candidates[0].account == after.candidates[0].account == name
    # Same statistics whether computed at search time or by the refresh; the thresholds
    # differ only because the refresh recalibrated with the new accounts.
    assert before.candidates[0].score == pytest.approx(after.candidates[0].score, abs=1e-3)


def test_a_calibration_from_another_cohort_is_refused(workspace: Workspace) -> None:
    ws = workspace
    populate(ws, 200, 3, seed=10)
    refresh_derived(ws)
    model = open_index(ws).description.model
    with pytest.raises(CalibrationError, match="nextofkin calibrate"):
        scorer_for(cohort_store(ws), "not-the-stored-cohort", model)
    assert scorer_for(cohort_store(ws), None, model).kind == "cosine"


def test_an_interrupted_save_leaves_the_previous_generation(workspace: Workspace) -> None:
    ws = workspace
    populate(ws, 200, 3, seed=11)
    refresh_derived(ws)
    store = cohort_store(ws)
    before = store.load()
    assert before is not None
    # What a crash mid-save leaves: a half-written generation that nothing points at.
    (store.directory / ".gen-dead.tmp").mkdir()
    (store.directory / ".gen-dead.tmp" / "face_ids.npy").write_bytes(b"garbage")
    again = CohortStore(store.directory).load()
    assert again is not None and again.cohort_id == before.cohort_id
    store.save(again)
    assert not (store.directory / ".gen-dead.tmp").exists()
    assert len([p for p in store.directory.iterdir() if p.is_dir()]) == 1


def test_a_pointer_to_a_removed_generation_reads_as_no_cohort(tmp_path: Path) -> None:
    store = CohortStore(tmp_path / "snorm")
    store.directory.mkdir()
    meta = {"generation": "gen-gone", "cohort_id": "x", "k": 100, "size_setting": 1, "drawn_at": 1}
    (store.directory / "current.json").write_text(json.dumps(meta), encoding="utf-8")
    assert store.load() is None
