"""``nextofkin reindex --embedder``: a workspace moved to another embedder, resumably.

The refusals and the carrying of stored face ids run on synthetic faces (no models); the moves
themselves embed a small LFW workspace with the real models, from ``dlib-resnet-onnx`` to its
flip-averaged form (cheap, already registered).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image as PILImage
from sqlalchemy import func, select
from typer.testing import CliRunner

from nextofkin.cli import build_app
from nextofkin.cli.reembed import _rewritten
from nextofkin.gallery.index import DESCRIPTION_FILE
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.records import Face, FaceRoleRecord, Image
from nextofkin.gallery.reembed import ReembedJob, ReembedOptions, embed_image, init_worker
from nextofkin.identify.derived import move_embedder, refresh_derived
from nextofkin.settings import Settings, VisionSettings
from nextofkin.vision.models import EmbedderSpec
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace

PLAIN = "dlib-resnet-onnx"
FLIP = "dlib-resnet-onnx-flip"
PEOPLE = ["Colin_Powell", "Tony_Blair", "George_W_Bush", "Gerhard_Schroeder"]


def spec_of(name: str) -> EmbedderSpec:
    return default_registry().embedder(name).spec


def cli(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["-w", str(home), *args])
    return result.exit_code, result.output


def synthetic_faces(ws: Workspace, spec: EmbedderSpec, n: int = 3) -> None:
    """``n`` faces with random unit vectors of ``spec``, one image each (no photo on disk)."""
    rng = np.random.default_rng(0)
    with ws.session() as session:
        for i in range(n):
            image = Image(
                sha256=f"r{i}".ljust(64, "0"), path=f"/nowhere/{i}.jpg", width=100, height=100,
                size_bytes=1, detector="synthetic", tried=[],
            )  # fmt: skip
            session.add(image)
            session.flush()
            vector = rng.standard_normal(spec.dim).astype(np.float32)
            session.add(
                Face(
                    image_id=image.id, ordinal=0, left=1.0, top=1.0, right=90.0, bottom=90.0,
                    landmarks=[], detection_score=1.0, quality=0.9, quality_parts={}, rotation=0,
                    model=spec.name, alignment=spec.alignment,
                    embedding=vector / np.linalg.norm(vector),
                )
            )  # fmt: skip


@pytest.fixture
def synthetic_home(settings: Settings) -> Path:
    settings.vision.embedder = PLAIN
    ws = Workspace.open(settings)
    synthetic_faces(ws, spec_of(PLAIN))
    refresh_derived(ws)
    ws.close()
    return settings.home


def test_unknown_embedder_is_refused_with_the_known_ones(synthetic_home: Path) -> None:
    code, output = cli(synthetic_home, "reindex", "--embedder", "no-such-model")
    assert code == 1
    assert "no-such-model" in output and PLAIN in output and FLIP in output


def test_same_embedder_is_nothing_to_do(synthetic_home: Path) -> None:
    code, output = cli(synthetic_home, "reindex", "--embedder", PLAIN, "--json")
    assert code == 0, output
    assert json.loads(output)["nothing_to_do"] is True


def test_workspace_without_faces_is_refused(settings: Settings) -> None:
    Workspace.open(settings).close()
    code, output = cli(settings.home, "reindex", "--embedder", FLIP)
    assert code == 1 and "no faces" in output


def test_photo_missing_is_named_and_blocks_the_switch(synthetic_home: Path) -> None:
    # The synthetic faces' photos do not exist: every image is a named problem, nothing moves.
    code, output = cli(synthetic_home, "reindex", "--embedder", FLIP, "--json", "--workers", "1")
    assert code == 1
    report = json.loads(output)
    assert (report["switched"], report["missing"], report["faces"]) == (False, 3, 3)
    assert sorted(p["item"] for p in report["problems"]) == [f"/nowhere/{i}.jpg" for i in range(3)]
    ws = Workspace.open(Settings.load(synthetic_home))
    try:
        assert open_index(ws).description.model == spec_of(PLAIN).name
        with ws.session() as session:
            models = set(session.scalars(select(Face.model)))
        assert models == {spec_of(PLAIN).name}
    finally:
        ws.close()


def test_stored_face_ids_are_carried_wherever_they_sit() -> None:
    stored = {
        "candidates": [{"evidence": [{"face_id": 3, "photo_id": 3}, {"face_id": 9}]}],
        "sightings": [{"face_id": 4, "account_id": 3}],
        "face_id": True,  # not an id
    }
    carried, changed = _rewritten(stored, {3: 103, 4: 104})
    assert changed == 2
    assert carried["candidates"][0]["evidence"] == [{"face_id": 103, "photo_id": 3}, {"face_id": 9}]
    assert carried["sightings"] == [{"face_id": 104, "account_id": 3}]


# --- with the real models ----------------------------------------------------------------------


def _rotated_job(tmp_path: Path, lfw_dir: Path) -> tuple[ReembedJob, ReembedJob]:
    """The same face in an upright PNG and in that PNG turned a quarter, with its landmarks."""
    from nextofkin.vision.image_io import sha256_of
    from nextofkin.vision.pipeline import FacePipeline

    source = lfw_dir / "images" / "Tony_Blair" / "Tony_Blair_0001.jpg"
    pixels = np.asarray(PILImage.open(source).convert("RGB"))
    vision = VisionSettings(embedder=PLAIN)
    face = FacePipeline.from_settings(vision, default_registry(vision)).analyse(pixels).faces[0]
    height = pixels.shape[0]
    turned = np.rot90(pixels)  # counter-clockwise: (x, y) -> (y, width - 1 - x)
    width = pixels.shape[1]
    points = face.landmarks.astype(np.float64)
    turned_points = np.stack([points[:, 1], width - 1 - points[:, 0]], axis=1)
    assert turned.shape[0] == width and turned.shape[1] == height
    jobs = []
    for name, image, marks in (("up", pixels, points), ("turned", turned, turned_points)):
        path = tmp_path / f"{name}.png"
        PILImage.fromarray(np.ascontiguousarray(image)).save(path)
        sha = sha256_of(path.read_bytes())
        jobs.append(ReembedJob(1, sha, (str(path),), (0,), (marks.tolist(),)))
    return jobs[0], jobs[1]


@pytest.mark.lfw
@pytest.mark.models
def test_align_straightens_a_turned_photo_from_its_landmarks(lfw_dir: Path, tmp_path: Path) -> None:
    up, turned = _rotated_job(tmp_path, lfw_dir)
    vision = VisionSettings(embedder=FLIP)
    init_worker(vision, FLIP)
    a = embed_image(up, vision.max_bytes, vision.max_pixels)
    b = embed_image(turned, vision.max_bytes, vision.max_pixels)
    assert a.vectors is not None and b.vectors is not None, (a.error, b.error)
    assert float(a.vectors[0] @ b.vectors[0]) > 0.98
    # And a changed file is this image's problem, named, not a wrong vector.
    changed = ReembedJob(1, "0" * 64, turned.paths, turned.ordinals, turned.landmarks)
    result = embed_image(changed, vision.max_bytes, vision.max_pixels)
    assert result.vectors is None and "changed" in (result.error or "")


def _export(lfw_dir: Path, root: Path) -> Path:
    for person in PEOPLE:
        (root / person).mkdir(parents=True, exist_ok=True)
        for n in (1, 2, 5):
            name = f"{person}_{n:04d}.jpg"
            shutil.copyfile(lfw_dir / "images" / person / name, root / person / name)
    return root


@pytest.fixture
def lfw_home(
    lfw_dir: Path, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A small workspace ingested with the plain embedder, with an admin ``ada``."""
    from nextofkin.identify.derived import ingest

    monkeypatch.setenv("NEXTOFKIN_VISION__EMBEDDER", PLAIN)
    ws = Workspace.open(Settings.load(settings.home))
    try:
        report = ingest(ws, _export(lfw_dir, tmp_path / "export"), workers=1)
        assert report.faces_added >= len(PEOPLE) * 2
    finally:
        ws.close()
    monkeypatch.delenv("NEXTOFKIN_VISION__EMBEDDER")
    code, output = cli(settings.home, "user", "add", "ada", "--role", "admin")
    assert code == 0, output
    return settings.home


def _state(home: Path) -> tuple[dict[tuple[int, int], list[str]], Counter[tuple[int, int, str]]]:
    """Models per (image, ordinal), and roles as (account, image, ordinal... role) counts."""
    ws = Workspace.open(Settings.load(home))
    try:
        with ws.session() as session:
            models: dict[tuple[int, int], list[str]] = {}
            for image_id, ordinal, model in session.execute(
                select(Face.image_id, Face.ordinal, Face.model)
            ):
                models.setdefault((image_id, ordinal), []).append(model)
            roles = Counter(
                (account, image_id * 100 + ordinal, role)
                for account, image_id, ordinal, role in session.execute(
                    select(
                        FaceRoleRecord.account_id, Face.image_id, Face.ordinal, FaceRoleRecord.role
                    ).join(Face, Face.id == FaceRoleRecord.face_id)
                )
            )
        return models, roles
    finally:
        ws.close()


class Killed(Exception):
    """The run is killed between two batches."""


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_move_killed_between_batches_resumes_and_switches(lfw_home: Path) -> None:
    before_models, before_roles = _state(lfw_home)
    faces = len(before_models)
    assert before_roles and faces >= len(PEOPLE) * 2
    calls: list[int] = []

    def kill_after_first_batch(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:  # the first call reports the start, the second a committed batch
            raise Killed

    ws = Workspace.open(Settings.load(lfw_home))
    try:
        options = ReembedOptions(workers=1, batch=3, progress=kill_after_first_batch)
        with pytest.raises(Killed):
            move_embedder(ws, FLIP, options)
    finally:
        ws.close()
    half_models, _ = _state(lfw_home)
    moved = [k for k, models in half_models.items() if spec_of(FLIP).name in models]
    assert 0 < len(moved) < faces  # one batch committed, the rest not yet
    code, output = cli(lfw_home, "--user", "ada", "status", "--json")
    assert json.loads(output)["embedder"] == PLAIN  # still answering with the old embedder

    code, output = cli(lfw_home, "reindex", "--embedder", FLIP, "--json", "--batch", "3")
    assert code == 0, output
    report = json.loads(output)
    assert report["switched"] and report["had_vector"] == len(moved)
    assert report["embedded"] == faces - len(moved)
    after_models, after_roles = _state(lfw_home)
    assert after_models == {key: [spec_of(FLIP).name] for key in before_models}
    assert after_roles == before_roles  # every role carried to the same face
    ws = Workspace.open(Settings.load(lfw_home))
    try:
        index = open_index(ws)
        assert index.description.model == spec_of(FLIP).name
        with ws.session() as session:
            ids = set(session.scalars(select(Face.id)))
            assert session.scalar(select(func.count(Face.id))) == faces
        assert set(index.ids().tolist()) == ids
        data = json.loads((ws.index_dir / DESCRIPTION_FILE).read_text())
        assert data["extra"]["embedder"] == FLIP
        assert data["calibration"]
    finally:
        ws.close()
    code, output = cli(lfw_home, "--user", "ada", "status", "--json")
    assert json.loads(output)["embedder"] == FLIP
    code, output = cli(lfw_home, "reindex", "--embedder", FLIP)
    assert code == 0 and "nothing to re-embed" in output


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_identify_answers_with_the_new_embedder(
    lfw_home: Path, lfw_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nextofkin.identify.cohort import cohort_store
    from nextofkin.identify.service import IdentifyService

    # Scores normalised against a cohort even on this small gallery: the move must redraw it.
    monkeypatch.setenv("NEXTOFKIN_SCORE__MIN_COHORT", "10")
    monkeypatch.setenv("NEXTOFKIN_SCORE__COHORT_K", "5")
    ws = Workspace.open(Settings.load(lfw_home))
    try:
        refresh_derived(ws, force_calibration=True)
        before = cohort_store(ws).load()
        assert before is not None
    finally:
        ws.close()
    code, output = cli(lfw_home, "reindex", "--embedder", FLIP, "--workers", "2")
    assert code == 0, output
    ws = Workspace.open(Settings.load(lfw_home))
    try:
        after = cohort_store(ws).load()
        with ws.session() as session:
            new_ids = set(session.scalars(select(Face.id)))
        assert after is not None and after.cohort_id != before.cohort_id
        assert set(after.face_ids.tolist()) <= new_ids  # drawn from the new faces
        service = IdentifyService(ws)
        assert service.pipeline.embedder.spec.name == spec_of(FLIP).name
        probe = lfw_dir / "images" / "Tony_Blair" / "Tony_Blair_0003.jpg"
        result = service.identify([probe], top=1)
        assert result.candidates[0].account == "Tony_Blair"
        assert result.calibration.score_kind == "snorm"
    finally:
        ws.close()


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_missing_photo_blocks_the_switch_until_it_is_back(lfw_home: Path, tmp_path: Path) -> None:
    photo = tmp_path / "export" / "Tony_Blair" / "Tony_Blair_0002.jpg"
    aside = tmp_path / "aside.jpg"
    photo.rename(aside)
    code, output = cli(lfw_home, "reindex", "--embedder", FLIP, "--json")
    assert code == 1
    report = json.loads(output)
    assert not report["switched"] and report["missing"] >= 1
    missing = report["missing"]
    assert [p["item"] for p in report["problems"]] == [str(photo)]
    code, output = cli(lfw_home, "--user", "ada", "status", "--json")
    assert json.loads(output)["embedder"] == PLAIN
    aside.rename(photo)
    code, output = cli(lfw_home, "reindex", "--embedder", FLIP, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["switched"] and report["embedded"] == missing  # only what was left


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_killed_after_the_index_save_the_next_run_finishes(
    lfw_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nextofkin.gallery.faiss_index import FaissIndex

    before_models, before_roles = _state(lfw_home)
    real_save = FaissIndex.save

    def save_then_die(self: FaissIndex) -> None:
        real_save(self)
        raise Killed  # between the index's commit point and the database's

    monkeypatch.setattr(FaissIndex, "save", save_then_die)
    ws = Workspace.open(Settings.load(lfw_home))
    try:
        with pytest.raises(Killed):
            move_embedder(ws, FLIP, ReembedOptions(workers=1))
    finally:
        ws.close()
    monkeypatch.setattr(FaissIndex, "save", real_save)
    half_models, half_roles = _state(lfw_home)
    assert all(len(models) == 2 for models in half_models.values())  # old rows still there
    assert half_roles == before_roles
    code, output = cli(lfw_home, "reindex", "--embedder", FLIP, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["switched"] and report["embedded"] == 0
    after_models, after_roles = _state(lfw_home)
    assert after_models == {key: [spec_of(FLIP).name] for key in before_models}
    assert after_roles == before_roles


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_stored_search_evidence_follows_its_faces(lfw_home: Path, lfw_dir: Path) -> None:
    from nextofkin.cases.records import CaseSearch

    code, output = cli(lfw_home, "--user", "ada", "user", "add", "ana", "--role", "investigator")
    assert code == 0, output
    probe = lfw_dir / "images" / "Tony_Blair" / "Tony_Blair_0003.jpg"
    code, output = cli(lfw_home, "--user", "ana", "identify", str(probe), "--case", "2026-7")
    assert code == 0, output

    def evidence_faces() -> list[tuple[int, int]]:
        ws = Workspace.open(Settings.load(lfw_home))
        try:
            with ws.session() as session:
                searches = list(session.scalars(select(CaseSearch)))
                ids = [
                    e["face_id"]
                    for s in searches
                    for c in s.candidates
                    for e in c.get("evidence", [])
                ]
                where = {
                    f.id: (f.image_id, f.ordinal)
                    for f in session.scalars(select(Face).where(Face.id.in_(ids)))
                }
            assert set(where) == set(ids)  # every stored id names a face of the gallery
            return [where[i] for i in ids]
        finally:
            ws.close()

    before = evidence_faces()
    assert before
    son = lfw_dir / "images" / "Tony_Blair" / "Tony_Blair_0004.jpg"
    code, output = cli(
        lfw_home, "--user", "ana", "inquiry", "file", str(son), "--name", "T. B.",
        "--inquirer", "C. B.", "--relation", "mother", "--email", "c@example.org", "--consent",
    )  # fmt: skip
    assert code == 0, output
    inquiry_vector = _inquiry_vectors(lfw_home)
    assert inquiry_vector is not None
    code, output = cli(lfw_home, "reindex", "--embedder", FLIP, "--json")
    assert code == 0, output
    moved = json.loads(output)
    assert moved["standing_probes_asleep"] == 1  # the case's probe is the old model's
    carried = moved["references_carried"]
    assert carried["case_searches"] == 1
    assert (carried["inquiry_photos_to_analyse"], carried["case_photos_to_analyse"]) == (1, 1)
    assert evidence_faces() == before  # the same faces, under their new ids
    assert _inquiry_vectors(lfw_home) is None  # forgotten: made again by the next sweep
    code, output = cli(lfw_home, "--user", "ana", "inquiry", "match")
    assert code == 0, output
    again = _inquiry_vectors(lfw_home)
    assert again is not None and not np.allclose(again, inquiry_vector)  # the new model's


def _inquiry_vectors(home: Path) -> np.ndarray | None:
    from nextofkin.cases.inquiry_records import InquiryPhoto

    ws = Workspace.open(Settings.load(home))
    try:
        with ws.session() as session:
            vectors = list(session.scalars(select(InquiryPhoto.embedding)))
        assert len(vectors) == 1
        return vectors[0]
    finally:
        ws.close()


@pytest.fixture(scope="module")
def template_home(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small plain-embedder workspace made once, copied by each example (SQLite only)."""
    from nextofkin.identify.derived import ingest

    if os.environ.get("NEXTOFKIN_TEST_DATABASE_URL"):
        pytest.skip("copies a SQLite workspace directory")
    root = tmp_path_factory.mktemp("template")
    settings = Settings.load(root / "ws")
    settings.vision.embedder = PLAIN
    ws = Workspace.open(settings)
    try:
        ingest(ws, _export(lfw_dir, root / "export"), workers=1)
    finally:
        ws.close()
    return root / "ws"


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
@hsettings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kills=st.lists(st.integers(min_value=1, max_value=8), max_size=3), batch=st.integers(1, 4))
def test_interleaved_kills_lose_nothing_and_duplicate_nothing(
    template_home: Path, tmp_path: Path, kills: list[int], batch: int
) -> None:
    """Runs killed after any number of progress reports (a committed batch, or a step of the
    switch's index rebuild), then one that finishes: every face once, in the new model."""
    home = tmp_path / f"ws-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(template_home, home)
    before_models, before_roles = _state(home)
    embedded_so_far = 0
    for kill_at in kills:
        seen: list[int] = []

        def kill(done: int, total: int, seen: list[int] = seen, at: int = kill_at) -> None:
            seen.append(done)
            if len(seen) > at:
                raise Killed

        ws = Workspace.open(Settings.load(home))
        try:
            move_embedder(ws, FLIP, ReembedOptions(1, batch, kill), index_progress=kill)
        except Killed:
            pass
        finally:
            ws.close()
        models, roles = _state(home)
        assert set(models) == set(before_models)  # no face lost
        assert all(len(m) == len(set(m)) for m in models.values())  # none twice in a model
        new = sum(spec_of(FLIP).name in m for m in models.values())
        assert new >= embedded_so_far  # committed batches stay
        embedded_so_far = new
        if any(len(m) == 2 for m in models.values()):
            assert roles == before_roles  # not switched: the old faces keep their roles
    ws = Workspace.open(Settings.load(home))
    try:
        report = move_embedder(ws, FLIP, ReembedOptions(1, batch))
    finally:
        ws.close()
    assert report.switched or report.nothing_to_do
    after_models, after_roles = _state(home)
    assert after_models == {key: [spec_of(FLIP).name] for key in before_models}
    assert after_roles == before_roles


def test_settings_naming_another_embedder_are_refused_first(
    synthetic_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXTOFKIN_VISION__EMBEDDER", PLAIN)
    code, output = cli(synthetic_home, "reindex", "--embedder", FLIP)
    assert code == 1 and "NEXTOFKIN_VISION__EMBEDDER" in output


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_a_dead_worker_costs_no_image(lfw_dir: Path, tmp_path: Path) -> None:
    import signal
    import time

    from nextofkin.gallery.reembed import _Workers

    up, turned = _rotated_job(tmp_path, lfw_dir)
    jobs = [up, turned, up, turned]
    workers = _Workers(2, VisionSettings(), PLAIN)
    try:
        assert all(r.vectors is not None for r in workers.run(jobs))
        assert workers.pool is not None
        os.kill(next(iter(workers.pool._processes)), signal.SIGKILL)  # the OOM killer, say
        time.sleep(0.5)
        again = workers.run(jobs)  # the broken pool is replaced; every image still embedded
        assert [r.error for r in again] == [None] * 4
    finally:
        workers.close()
