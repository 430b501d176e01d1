"""The ``inquiry`` commands end to end with the real face models on LFW photos: a body's case,
its family's inquiry with another photo of the person, a link, review, role scoping, purge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cases.casework import add_team
from nextofkin.cli import build_app
from nextofkin.users.service import add_user
from nextofkin.workspace import Workspace

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]


def run(ws: Workspace, user: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["--workspace", str(ws.home), "--user", user, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def file_args(photo: Path, name: str, *extra: str) -> list[str]:
    return [
        "inquiry",
        "file",
        str(photo),
        "--name",
        name,
        "--born",
        "1980-01-02",
        "--inquirer",
        "Halyna",
        "--relation",
        "mother",
        "--email",
        "halyna@example.org",
        "--json",
        *extra,
    ]


def test_inquiry_commands_link_a_family_to_the_body(
    workspace: Workspace, lfw_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = lfw_dir / "images"
    with workspace.session() as s:
        add_team(s)
        add_user(s, "ada", "ina", "intake")
        add_user(s, "ada", "ira", "intake")
    body = images / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    code, out = run(workspace, "ivan", "case", "open", "K-1", "--photo", str(body), "--json")
    assert code == 0, out

    same = images / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg"
    code, out = run(workspace, "ina", *file_args(same, "Aaron P.", "--consent"))
    assert code == 0, out
    filed = json.loads(out)
    assert filed["sweep"]["cases"] == 1 and len(filed["sweep"]["new_links"]) == 1
    (link,) = filed["sweep"]["new_links"]

    other = images / "Abdullah_Gul" / "Abdullah_Gul_0001.jpg"
    code, out = run(workspace, "ira", *file_args(other, "A. G."))
    assert code == 1 and "Error (PolicyViolation)" in out and "consent" in out
    code, out = run(workspace, "ira", *file_args(other, "A. G.", "--consent"))
    assert code == 0, out
    theirs = json.loads(out)
    assert theirs["sweep"]["new_links"] == []

    code, out = run(workspace, "ina", "inquiry", "show", str(filed["inquiry"]), "--json")
    shown = json.loads(out)
    assert [(lk["case_number"], lk["state"]) for lk in shown["links"]] == [("K-1", "proposed")]
    assert "case" in shown["links"][0]["meaning"]
    code, out = run(workspace, "ina", "inquiry", "show", str(theirs["inquiry"]))
    assert code == 1 and "Error (NotFound)" in out
    code, out = run(workspace, "ina", "inquiry", "list", "--json")
    assert [r["id"] for r in json.loads(out)] == [filed["inquiry"]]
    code, out = run(workspace, "ina", "case", "show", "K-1")
    assert code == 1  # intake sees cases only through its own inquiries

    states = []
    for reviewer in ("rita", "rob"):
        code, out = run(workspace, reviewer, "inquiry", "review", str(link), "--confirm", "--json")
        assert code == 0, out
        states.append(json.loads(out)["state"])
        if states[-1] == "confirmed":
            break
    assert states[-1] == "confirmed"

    monkeypatch.setenv("NEXTOFKIN_NOTIFY__TEAM_NAME", "Identification Team North")
    monkeypatch.setenv("NEXTOFKIN_NOTIFY__TEAM_PHONE", "+380 44 000 00 00")
    code, out = run(workspace, "ina", "inquiry", "letter", "K-1")
    assert code == 1 and "Error (PermissionDenied)" in out
    code, out = run(workspace, "ivan", "inquiry", "letter", "K-1", "--json")
    assert code == 0, out
    letter = json.loads(out)
    assert (letter["recipient"], letter["state"]) == (f"inquiry:{filed['inquiry']}", "draft")

    code, out = run(workspace, "ina", "inquiry", "purge", str(filed["inquiry"]), "--yes", "--json")
    assert code == 0, out
    assert json.loads(out)["photos"] == 1
    code, out = run(workspace, "ivan", "inquiry", "list", "--json")
    assert [r["id"] for r in json.loads(out)] == [theirs["inquiry"]]
