"""The first hour: what a new user types from the README works, and says what it means."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cases.casework import FakeIdentify, add_team, candidate, photo
from cases.test_purge import build
from nextofkin.cases.service import identify_for_case
from nextofkin.cli import build_app
from nextofkin.cli.common import console
from nextofkin.errors import NoFaceFound
from nextofkin.gallery.records import Account
from nextofkin.identify.search import SearchResult
from nextofkin.reports import write_report
from nextofkin.workspace import Workspace


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    with workspace.session() as s:
        add_team(s)
    build(workspace)
    monkeypatch.setattr(console, "width", 400)
    return workspace


def run(ws: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["--workspace", str(ws.home), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _id(ws: Workspace, external: str) -> int:
    with ws.session() as s:
        return s.scalars(select(Account.id).where(Account.external_id == external)).one()


def test_kin_takes_every_spelling_of_the_account_grammar(ws: Workspace) -> None:
    b = _id(ws, "b")
    for ref in ("vk/b", "b", f"#{b}", str(b)):
        code, out = run(ws, "--user", "ivan", "kin", ref)
        assert code == 0, (ref, out)
        assert "source vk" in out, (ref, out)


def test_kin_of_an_unknown_account_says_the_grammar(ws: Workspace) -> None:
    code, out = run(ws, "--user", "ivan", "kin", "vk/nobody")
    assert code == 1 and "no account 'vk/nobody'" in out and "#<id>" in out


def test_user_add_on_a_workspace_with_users_says_who_may_add(ws: Workspace) -> None:
    code, out = run(ws, "user", "add", "chief", "--role", "admin")
    assert code == 1 and "no acting user" in out
    assert "NEXTOFKIN_USER=ada nextofkin user add chief --role admin" in out


def test_flags_show_no_bool_type_in_help(ws: Workspace) -> None:
    for args in (("kin", "--help"), ("identify", "--help"), ("notify", "draft", "--help")):
        code, out = run(ws, *args)
        assert (code == 0 and "--json" in out) or "--send" in out, (args, out)
        assert "<bool>" not in out, (args, out)


def test_notify_group_summary_names_draft(ws: Workspace) -> None:
    code, out = run(ws, "--help")
    assert code == 0
    [line] = [line for line in out.splitlines() if "Messages to families" in line]
    assert "draft" in line


def test_every_error_has_one_style(ws: Workspace) -> None:
    outputs = [
        run(ws, "--user", "ivan", "kin", "#x"),  # bad input
        run(ws, "--user", "ivan", "kin", "vk/nobody"),  # not found
        run(ws, "kin", "vk/b"),  # permission
    ]
    for code, out in outputs:
        assert code == 1 and out.startswith("Error ("), out
        assert "Bad input" not in out


def test_no_face_error_names_the_users_photo_and_lists_attempts_one_a_line(
    ws: Workspace, tmp_path: Path
) -> None:
    class NoFace:
        def identify(self, photos: list[Path], top: int = 10) -> object:
            stored = photos[0].name
            raise NoFaceFound(
                f"{stored}: no face found after 2 attempts (tried: every quarter turn)",
                tried=[
                    f"{stored}: hog, original, rotated 0°",
                    f"{stored}: hog, original, rotated 90°",
                ],
            )

    probe = photo(tmp_path / "body1-a.jpg")
    with pytest.raises(NoFaceFound) as caught:
        identify_for_case(ws, "ivan", "K-7", [probe], service=NoFace())
    assert str(caught.value).startswith("body1-a.jpg: no face found")
    assert caught.value.tried[1] == "body1-a.jpg: hog, original, rotated 90°"

    def fake(_ws: Workspace) -> NoFace:
        return NoFace()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("nextofkin.identify.service.IdentifyService", fake)
        code, out = run(ws, "--user", "ivan", "identify", str(probe), "--case", "K-8")
    assert code == 3
    lines = out.splitlines()
    assert lines[0].startswith("Error (NoFaceFound): body1-a.jpg: no face found")
    assert lines[1:3] == [
        "  tried body1-a.jpg: hog, original, rotated 0°",
        "  tried body1-a.jpg: hog, original, rotated 90°",
    ]


def test_status_does_not_call_a_fallback_calibration_calibrated(ws: Workspace) -> None:
    from nextofkin.identify.derived import refresh_derived

    refresh_derived(ws)
    code, out = run(ws, "--user", "ivan", "status")
    assert code == 0, out
    assert "calibrated: False" in out and "too small" in out


def test_notify_kin_without_a_reachable_relative_says_so(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nextofkin.notify.service.kin_recipients", lambda *a, **k: [])
    code, out = run(ws, "--user", "ivan", "notify", "draft", "K-1", "--kin", "2")
    assert code == 1 and "kin found no relative" in out and "--to ACCOUNT" in out
    assert "name at least one recipient" not in out


def test_report_numbers_searches_within_the_case(ws: Workspace, tmp_path: Path) -> None:
    fake = FakeIdentify([candidate(_id(ws, "a"), "a", 0.9, "match")])
    identify_for_case(ws, "ivan", "OTHER-1", [photo(tmp_path / "o.jpg", seed=1)], service=fake)
    identify_for_case(ws, "ivan", "K-2", [photo(tmp_path / "k.jpg", seed=2)], service=fake)
    html = write_report(ws, "ivan", "K-2").read_text(encoding="utf-8")
    assert "<h2>Search 1</h2>" in html and "<h2>Search 2" not in html


def test_pdf_report_prints_no_css_warning(
    ws: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeIdentify([candidate(_id(ws, "a"), "a", 0.9, "match")])
    identify_for_case(ws, "ivan", "K-3", [photo(tmp_path / "k.jpg", seed=3)], service=fake)
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        write_report(ws, "ivan", "K-3", "pdf", tmp_path / "r.pdf")
    assert not [r for r in caplog.records if r.name.startswith("weasyprint")]


@pytest.mark.models
@pytest.mark.lfw
@pytest.mark.slow
def test_demo_runs_the_whole_job_and_says_what_to_type_next(lfw_dir: Path, tmp_path: Path) -> None:
    args = ["-w", str(tmp_path / "ws"), "demo", "--photos", "120", "-j", "1"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    out = result.output
    for step in ("ranked first", "confirms", "ready to send by hand", "report:", "intact"):
        assert step in out, step
    assert "chief (admin), ana (investigator), ivan (reviewer), olga (reviewer)" in out
    assert "  nextofkin kin demo/" in out and "NEXTOFKIN_USER=chief nextofkin audit verify" in out


def test_review_confirms_by_the_account_id_json_shows(ws: Workspace, tmp_path: Path) -> None:
    a = _id(ws, "a")
    fake = FakeIdentify([candidate(a, "a", 0.9, "match")])
    identify_for_case(ws, "ivan", "K-4", [photo(tmp_path / "k.jpg", seed=4)], service=fake)
    code, out = run(ws, "--user", "rita", "review", "K-4", "--confirm", str(a), "--reason", "x")
    assert code == 0, out
    assert "vk/a" in out


def test_identify_shows_the_probe_by_the_users_name(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Full(FakeIdentify):
        def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
            found = super().identify(photos, top)
            found.calibration = replace(found.calibration, match_fpir=0.001, possible_fpir=0.05)
            return found

    fake = Full([candidate(_id(ws, "a"), "a", 0.9, "match")])
    monkeypatch.setattr("nextofkin.identify.service.IdentifyService", lambda _ws: fake)
    probe = photo(tmp_path / "body1-a.jpg", seed=5)
    code, out = run(ws, "--user", "ivan", "identify", str(probe), "--case", "K-5")
    assert code == 0, out
    assert "probe body1-a.jpg:" in out and fake.calls[0][0].name not in out
