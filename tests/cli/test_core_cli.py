"""The public command-line contract: ingest, identify (--json, exit codes), status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from nextofkin.cli import build_app

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]

PEOPLE = ["Colin_Powell", "Tony_Blair", "Hugo_Chavez", "Jean_Chretien", "John_Ashcroft"]


@pytest.fixture(scope="module")
def workspace(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "gallery"
    for person in PEOPLE:
        (root / person).mkdir(parents=True)
        for n in (1, 2):
            name = f"{person}_{n:04d}.jpg"
            shutil.copyfile(lfw_dir / "images" / person / name, root / person / name)
        (root / person / "account.json").write_text(json.dumps({"name": person}))
    ws = root.parent / "ws"
    for args in (
        ["user", "add", "boss", "--role", "admin"],
        ["--user", "boss", "user", "add", "inv", "--role", "investigator"],
    ):
        added = CliRunner().invoke(build_app(), ["-w", str(ws), *args])
        assert added.exit_code == 0, added.output
    result = CliRunner().invoke(
        build_app(), ["-w", str(ws), "ingest", str(root), "--json", "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["accounts_added"] == 5 and report["photos_added"] == 10
    return ws


def test_identify_json_contract(workspace: Path, lfw_dir: Path) -> None:
    probe = lfw_dir / "images" / "Tony_Blair" / "Tony_Blair_0010.jpg"
    result = CliRunner().invoke(
        build_app(),
        ["-w", str(workspace), "--user", "inv", "identify", str(probe), "--top", "3", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["candidates"]) == 3
    top = data["candidates"][0]
    assert top["account"] == "Tony_Blair"
    assert top["decision"] in ("match", "possible", "no match")
    assert isinstance(top["score"], float)
    assert top["evidence"] and {"photo", "face_id", "similarity", "box"} <= set(top["evidence"][0])
    assert "stranger" in top["meaning"]
    assert data["case"].startswith("AUTO-") and data["case_opened"] is True


def test_identify_attaches_to_a_named_case(workspace: Path, lfw_dir: Path) -> None:
    probe = lfw_dir / "images" / "Colin_Powell" / "Colin_Powell_0010.jpg"
    app = build_app()
    first = CliRunner().invoke(
        app,
        ["-w", str(workspace), "--user", "inv", "identify", str(probe), "--case", "K-7", "--json"],
    )
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(
        build_app(), ["-w", str(workspace), "--user", "inv", "identify", "--case", "K-7", "--json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["case_opened"] is False
    shown = CliRunner().invoke(
        build_app(), ["-w", str(workspace), "--user", "inv", "case", "show", "K-7", "--json"]
    )
    assert shown.exit_code == 0, shown.output
    assert len(json.loads(shown.output)["searches"]) == 2


def test_identify_without_a_user_is_refused(workspace: Path, lfw_dir: Path) -> None:
    probe = lfw_dir / "images" / "Colin_Powell" / "Colin_Powell_0011.jpg"
    result = CliRunner().invoke(build_app(), ["-w", str(workspace), "identify", str(probe)])
    assert result.exit_code == 1
    assert "PermissionDenied" in result.output


def test_identify_human_output_says_what_scores_mean(
    workspace: Path, lfw_dir: Path, tmp_path: Path
) -> None:
    probe = tmp_path / "lying.jpg"
    Image.open(lfw_dir / "images" / "Hugo_Chavez" / "Hugo_Chavez_0005.jpg").rotate(
        270, expand=True
    ).save(probe)
    result = CliRunner().invoke(
        build_app(), ["-w", str(workspace), "--user", "inv", "identify", str(probe)]
    )
    assert result.exit_code == 0, result.output
    assert "Hugo_Chavez" in result.output
    assert "rotated" in result.output and "stranger" in result.output


def test_no_face_exits_3_with_what_was_tried(workspace: Path, tmp_path: Path) -> None:
    blank = tmp_path / "wall.png"
    Image.new("RGB", (160, 120), (200, 190, 180)).save(blank)
    result = CliRunner().invoke(
        build_app(), ["-w", str(workspace), "--user", "inv", "identify", str(blank)]
    )
    assert result.exit_code == 3
    assert "Error (NoFaceFound)" in result.output and "rotated 180°" in result.output


def test_unreadable_probe_is_a_clear_error(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    result = CliRunner().invoke(
        build_app(), ["-w", str(workspace), "--user", "inv", "identify", str(bad)]
    )
    assert result.exit_code == 1
    assert "not an image" in result.output


def test_status_json(workspace: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["-w", str(workspace), "--user", "inv", "status", "--json"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["accounts"] == 5 and info["index_faces"] == info["faces"] >= 9
    # Five accounts are too few to measure impostor scores: identify says so, and status too.
    assert info["calibrated"] is False and "too small" in info["calibration"]
