"""The CLI prints stored text literally, names who acts, and audits what it shows or changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from cases.casework import FakeIdentify, add_team, candidate, photo
from cases.test_purge import build
from nextofkin import audit
from nextofkin.cli import build_app
from nextofkin.cli.common import console
from nextofkin.gallery.records import Account
from nextofkin.identify.search import Evidence, SearchResult
from nextofkin.workspace import Workspace

EVIL = "[/] [link=http://evil]x[/link]"


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    with workspace.session() as s:
        add_team(s)
    build(workspace)
    with workspace.session() as s:
        s.execute(update(Account).where(Account.external_id == "a").values(name=EVIL))
    monkeypatch.setattr(console, "width", 400)  # one line per table row: the name stays whole
    return workspace


def run(ws: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["--workspace", str(ws.home), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


class FullResult(FakeIdentify):
    """A fake search whose calibration has everything the CLI prints."""

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        found = super().identify(photos, top)
        found.calibration = replace(found.calibration, match_fpir=0.001, possible_fpir=0.05)
        return found


def _actions(ws: Workspace) -> list[str]:
    with ws.session() as s:
        assert audit.verify(s).ok
        return [e.action for e in audit.entries(s)]


def test_account_name_markup_is_printed_literally(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ws.session() as s:
        account_id = s.scalars(select(Account.id).where(Account.external_id == "a")).one()
    evidence = Evidence(
        1, 1, f"{EVIL}.jpg", "/x/img1.jpg", [0, 0, 9, 9], 0.9, 0.9, "owner", "post", None
    )
    found = candidate(account_id, "a", 0.9, "match", evidence=[evidence])
    found.name = EVIL
    fake = FullResult([found])
    monkeypatch.setattr("nextofkin.identify.service.IdentifyService", lambda _ws: fake)
    probe = photo(tmp_path / "probe.jpg")
    for args in (
        ("--user", "ivan", "identify", str(probe), "--case", "K-1"),
        ("--user", "ivan", "case", "show", "K-1"),
        ("--user", "ivan", "kin", "a", "--source", "vk"),
    ):
        code, out = run(ws, *args)
        assert code == 0, (args, out)
        assert EVIL in out, (args, out)
        assert "\x1b]8;" not in out  # no terminal hyperlink was made


def test_errors_with_markup_in_user_input_are_printed_literally(ws: Workspace) -> None:
    code, out = run(ws, "--user", "ivan", "case", "show", "[link=http://evil]K[/link]")
    assert code == 1 and "[link=http://evil]K[/link]" in out


def test_kin_needs_an_acting_user_and_is_audited(ws: Workspace) -> None:
    code, out = run(ws, "kin", "b", "--source", "vk")
    assert code == 1 and "PermissionDenied" in out
    assert "kin.view" not in _actions(ws)
    code, out = run(ws, "--user", "ivan", "kin", "b", "--source", "vk")
    assert code == 0, out
    with ws.session() as s:
        [entry] = [e for e in audit.entries(s) if e.action == "kin.view"]
    assert entry.actor == "ivan" and entry.subject == "account:vk/b"


@pytest.mark.parametrize(
    ("args", "allowed"),
    [(("status",), "ivan"), (("user", "list"), "ada")],
)
def test_status_and_user_list_need_an_acting_user(
    ws: Workspace, args: tuple[str, ...], allowed: str
) -> None:
    code, out = run(ws, *args)
    assert code == 1 and "PermissionDenied" in out
    code, out = run(ws, "--user", allowed, *args)
    assert code == 0, out


def test_user_list_is_for_admins(ws: Workspace) -> None:
    code, out = run(ws, "--user", "ivan", "user", "list")
    assert code == 1 and "PermissionDenied" in out


def test_ingest_reindex_and_calibrate_are_audited(ws: Workspace, tmp_path: Path) -> None:
    export = tmp_path / "export"
    (export / "nobody").mkdir(parents=True)
    (export / "nobody" / "account.json").write_text('{"name": "Nobody"}')
    for args in (
        ("ingest", str(export), "--workers", "1", "--json"),
        ("--user", "ada", "reindex", "--json"),
        ("--user", "ada", "calibrate", "--json"),
    ):
        code, out = run(ws, *args)
        assert code == 0, (args, out)
    with ws.session() as s:
        entries = {e.action: e for e in audit.entries(s)}
        assert audit.verify(s).ok
    for action in ("ingest.start", "ingest.done", "reindex", "calibrate"):
        assert action in entries, action
    assert entries["ingest.start"].actor is None and entries["ingest.start"].details["os_user"]
    assert entries["ingest.done"].details["accounts_added"] == 1
    assert entries["reindex"].actor == "ada" and entries["calibrate"].actor == "ada"
