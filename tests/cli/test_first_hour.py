"""The first hour: what a new user types from the README works, and says what it means."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cases.casework import add_team
from cases.test_purge import build
from nextofkin.cli import build_app
from nextofkin.cli.common import console
from nextofkin.gallery.records import Account
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
