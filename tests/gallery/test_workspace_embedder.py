"""A workspace remembers its embedder: the settings' default applies only to new workspaces.

Most tests write a few synthetic faces straight into the database (no images, no models); the
last ones ingest a handful of LFW photos with the real models.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nextofkin.cli import build_app
from nextofkin.errors import ModelMismatch
from nextofkin.gallery.embedder import EMBEDDER_KEY, resolve_embedder, workspace_vision
from nextofkin.gallery.index import DESCRIPTION_FILE
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.records import Face, Image
from nextofkin.identify.derived import refresh_derived
from nextofkin.settings import Settings, VisionSettings
from nextofkin.vision.models import EmbedderSpec
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace

DEFAULT = VisionSettings().embedder
PLAIN = "dlib-resnet-onnx"


def spec_of(name: str) -> EmbedderSpec:
    return default_registry().embedder(name).spec


def add_faces(ws: Workspace, spec: EmbedderSpec, n: int = 4, seed: int = 0) -> None:
    """``n`` faces with random unit vectors labelled as ``spec``'s, one image each."""
    rng = np.random.default_rng(seed)
    with ws.session() as session:
        for i in range(n):
            image = Image(
                sha256=f"s{seed}-{i}".ljust(64, "0"),
                path=f"/synthetic/{seed}/{i}.jpg",
                width=100,
                height=100,
                size_bytes=1000,
                detector="synthetic",
                tried=[],
            )
            session.add(image)
            session.flush()
            vector = rng.standard_normal(spec.dim).astype(np.float32)
            session.add(
                Face(
                    image_id=image.id,
                    ordinal=0,
                    left=10.0,
                    top=10.0,
                    right=90.0,
                    bottom=90.0,
                    landmarks=[],
                    detection_score=1.0,
                    quality=0.9,
                    quality_parts={},
                    rotation=0,
                    model=spec.name,
                    alignment=spec.alignment,
                    embedding=vector / np.linalg.norm(vector),
                )
            )


def description(ws: Workspace) -> dict[str, object]:
    data: dict[str, object] = json.loads((ws.index_dir / DESCRIPTION_FILE).read_text())
    return data


def recorded(ws: Workspace) -> object:
    extra = description(ws)["extra"]
    assert isinstance(extra, dict)
    return extra.get(EMBEDDER_KEY)


def forget_record(ws: Workspace) -> None:
    """Make the index description look like one saved before workspaces recorded embedders."""
    data = description(ws)
    extra = data["extra"]
    assert isinstance(extra, dict)
    del extra[EMBEDDER_KEY]
    (ws.index_dir / DESCRIPTION_FILE).write_text(json.dumps(data))


def reopen(home: Path) -> Workspace:
    """The workspace at ``home`` as a later command sees it (settings from the environment)."""
    return Workspace.open(Settings.load(home))


@pytest.fixture
def old_workspace(settings: Settings) -> Path:
    """A workspace built with the plain embedder before the embedder was recorded."""
    settings.vision.embedder = PLAIN  # as NEXTOFKIN_VISION__EMBEDDER=dlib-resnet-onnx did
    ws = Workspace.open(settings)
    add_faces(ws, spec_of(PLAIN))
    refresh_derived(ws)
    forget_record(ws)
    ws.close()
    return settings.home


def test_new_workspace_records_the_default_embedder(workspace: Workspace) -> None:
    fresh = resolve_embedder(workspace)
    assert (fresh.name, fresh.held, fresh.source) == (DEFAULT, None, "settings")
    add_faces(workspace, fresh.spec)
    refresh_derived(workspace)
    assert recorded(workspace) == DEFAULT
    assert description(workspace)["model"] == spec_of(DEFAULT).name
    later = reopen(workspace.home)
    try:
        assert resolve_embedder(later).source == "recorded"
        assert resolve_embedder(later).name == DEFAULT
    finally:
        later.close()


def test_recorded_embedder_wins_over_a_changed_default(workspace: Workspace) -> None:
    add_faces(workspace, spec_of(DEFAULT))
    refresh_derived(workspace)
    later = reopen(workspace.home)
    try:
        # A later release changes the default (a default: not in the fields set explicitly).
        later.settings.vision = VisionSettings.model_construct(_fields_set=set(), embedder=PLAIN)
        assert resolve_embedder(later).name == DEFAULT
        assert workspace_vision(later).embedder == DEFAULT
        assert len(open_index(later)) == 4
    finally:
        later.close()


def test_old_workspace_keeps_working_with_default_settings(old_workspace: Path) -> None:
    ws = reopen(old_workspace)
    try:
        assert "embedder" not in ws.settings.vision.model_fields_set
        found = resolve_embedder(ws)
        assert (found.name, found.source) == (PLAIN, "inferred")
        assert embedder_spec(ws).name == spec_of(PLAIN).name
        assert workspace_vision(ws).embedder == PLAIN
        assert len(open_index(ws)) == 4  # no ModelMismatch
        # The next write of the index records what was inferred.
        add_faces(ws, embedder_spec(ws), n=2, seed=1)
        report = refresh_derived(ws)
        assert report.index_added == 2
        assert recorded(ws) == PLAIN
        assert resolve_embedder(ws).source == "recorded"
    finally:
        ws.close()


def test_explicit_conflicting_embedder_is_refused_clearly(
    old_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXTOFKIN_VISION__EMBEDDER", DEFAULT)
    ws = reopen(old_workspace)
    try:
        with pytest.raises(ModelMismatch) as caught:
            resolve_embedder(ws)
        message = str(caught.value)
        for part in (PLAIN, spec_of(PLAIN).name, DEFAULT, "another workspace", "reindex"):
            assert part in message
        with pytest.raises(ModelMismatch):
            open_index(ws)
    finally:
        ws.close()
    added = CliRunner().invoke(
        build_app(), ["-w", str(old_workspace), "user", "add", "ada", "--role", "admin"]
    )
    assert added.exit_code == 0, added.output
    result = CliRunner().invoke(build_app(), ["-w", str(old_workspace), "--user", "ada", "status"])
    assert result.exit_code == 1
    assert "ModelMismatch" in result.output and PLAIN in result.output


def test_explicit_embedder_computing_the_same_vectors_is_accepted(
    old_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXTOFKIN_VISION__EMBEDDER", "dlib-resnet")  # dlib itself, same vectors
    ws = reopen(old_workspace)
    try:
        assert resolve_embedder(ws).name == "dlib-resnet"  # inferred as the one asked for
        data = description(ws)
        data["extra"] = {EMBEDDER_KEY: PLAIN}
        (ws.index_dir / DESCRIPTION_FILE).write_text(json.dumps(data))
        found = resolve_embedder(ws)
        assert (found.name, found.held, found.source) == ("dlib-resnet", PLAIN, "settings")
        assert len(open_index(ws)) == 4
    finally:
        ws.close()


def test_faces_without_a_saved_index_name_the_embedder(settings: Settings) -> None:
    # A first ingest stopped before the index was saved: the stored faces tell.
    settings.vision.embedder = PLAIN
    ws = Workspace.open(settings)
    add_faces(ws, spec_of(PLAIN))
    ws.close()
    later = reopen(settings.home)
    try:
        assert not (later.index_dir / DESCRIPTION_FILE).exists()
        found = resolve_embedder(later)
        assert (found.name, found.source) == (PLAIN, "inferred")
    finally:
        later.close()


def test_vectors_no_registered_embedder_computes_are_a_mismatch(workspace: Workspace) -> None:
    add_faces(workspace, spec_of(DEFAULT))
    refresh_derived(workspace)
    data = description(workspace)
    data["model"] = "someone-elses-model-v3"
    data["extra"] = {}
    (workspace.index_dir / DESCRIPTION_FILE).write_text(json.dumps(data))
    with pytest.raises(ModelMismatch, match=r"someone-elses-model-v3.*no registered embedder"):
        resolve_embedder(workspace)


def test_status_shows_the_workspace_embedder(old_workspace: Path) -> None:
    app, ws = build_app(), ["-w", str(old_workspace)]
    added = CliRunner().invoke(app, [*ws, "user", "add", "ada", "--role", "admin"])
    assert added.exit_code == 0, added.output
    result = CliRunner().invoke(build_app(), [*ws, "--user", "ada", "status", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["embedder"], info["embedder_source"]) == (PLAIN, "inferred")
    assert info["index_model"] == spec_of(PLAIN).name
    human = CliRunner().invoke(build_app(), [*ws, "--user", "ada", "status"])
    assert human.exit_code == 0 and PLAIN in human.output


# --- with the real models: ingest and identify -------------------------------------------------


def small_export(lfw_dir: Path, root: Path, people: list[str], photos: tuple[int, ...]) -> Path:
    for person in people:
        (root / person).mkdir(parents=True, exist_ok=True)
        for n in photos:
            name = f"{person}_{n:04d}.jpg"
            shutil.copyfile(lfw_dir / "images" / person / name, root / person / name)
    return root


@pytest.mark.lfw
@pytest.mark.models
@pytest.mark.slow
def test_ingest_and_identify_follow_the_workspace(
    lfw_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nextofkin.identify.derived import ingest
    from nextofkin.identify.service import IdentifyService

    people = ["Colin_Powell", "Tony_Blair"]
    # An old workspace: ingested with the plain embedder, before the embedder was recorded.
    monkeypatch.setenv("NEXTOFKIN_VISION__EMBEDDER", PLAIN)
    ws = Workspace.open(Settings.load(settings.home))
    first = ingest(ws, small_export(lfw_dir, tmp_path / "a", people, (1,)), workers=1)
    assert first.faces_added >= 2
    forget_record(ws)
    ws.close()

    # Default settings again: a second ingest and a search use the workspace's plain embedder.
    monkeypatch.delenv("NEXTOFKIN_VISION__EMBEDDER")
    ws = reopen(settings.home)
    try:
        second = ingest(ws, small_export(lfw_dir, tmp_path / "b", people, (2,)), workers=1)
        assert second.faces_added >= 2
        assert second.index_total == first.faces_added + second.faces_added
        assert recorded(ws) == PLAIN
        service = IdentifyService(ws)
        assert service.pipeline.embedder.spec.name == spec_of(PLAIN).name
        probe = lfw_dir / "images" / "Tony_Blair" / "Tony_Blair_0003.jpg"
        assert service.identify([probe], top=1).candidates[0].account == "Tony_Blair"
    finally:
        ws.close()

    # A new workspace ingested with default settings records the default.
    fresh = Workspace.open(Settings.load(tmp_path / "fresh"))
    try:
        ingest(fresh, tmp_path / "b", workers=1)
        assert recorded(fresh) == DEFAULT
    finally:
        fresh.close()
