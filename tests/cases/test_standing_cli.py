"""``nextofkin case rescan`` and ``nextofkin alerts``: JSON for scripts, errors as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cases.casework import add_team
from cases.standing_world import add_batch, batch_centres, body_probe, open_searched_case
from nextofkin.cli import build_app
from nextofkin.cli.alerts import rescan_after_ingest
from nextofkin.cli.common import CliState
from nextofkin.gallery.ingest import ingest_lock_path
from nextofkin.processes import exclusive_lock
from nextofkin.workspace import Workspace


def _run(ws: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["-w", str(ws.settings.home), *args])
    return result.exit_code, result.output


@pytest.fixture
def ws(workspace: Workspace, tmp_path: Path) -> Workspace:
    with workspace.session() as session:
        add_team(session)
    add_batch(workspace, "first", 200, seed=1)
    person = batch_centres(workspace, 10, 5)[2]
    open_searched_case(workspace, tmp_path, "C-7", body_probe(person, 7))
    add_batch(workspace, "later", 10, seed=5)
    return workspace


def test_rescan_and_alerts_json(ws: Workspace) -> None:
    code, out = _run(ws, "--user", "ivan", "case", "rescan", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["cases"] == 1 and report["faces_compared"] == 30
    refs = {a["account_ref"] for a in report["alerts"]}
    assert "later/later-000002" in refs
    code, out = _run(ws, "--user", "ivan", "alerts", "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert {a["id"] for a in listed} == {a["id"] for a in report["alerts"]}
    first = listed[0]
    assert first["state"] == "open" and first["case_number"] == "C-7"
    assert {"score", "fpir", "meaning", "reason", "raised_at"} <= set(first)
    code, out = _run(
        ws, "--user", "rita", "alerts", "ack", str(first["id"]), "--note", "seen", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["acknowledged_by"] == "rita"
    code, out = _run(ws, "--user", "ivan", "alerts", "--json")
    assert first["id"] not in {a["id"] for a in json.loads(out)}
    code, out = _run(ws, "--user", "ivan", "alerts", "--all", "--case", "C-7", "--json")
    assert first["id"] in {a["id"] for a in json.loads(out)}


def test_acknowledging_twice_is_one_line_error(ws: Workspace) -> None:
    code, out = _run(ws, "--user", "ivan", "case", "rescan", "--json")
    alert = json.loads(out)["alerts"][0]["id"]
    assert _run(ws, "--user", "rita", "alerts", "ack", str(alert))[0] == 0
    code, out = _run(ws, "--user", "rob", "alerts", "ack", str(alert))
    assert code == 1
    assert out.strip().startswith("Error (CaseStateError)") and "rita" in out


def test_rescan_without_user_is_refused(ws: Workspace) -> None:
    code, out = _run(ws, "case", "rescan")
    assert code == 1 and "PermissionDenied" in out


def test_the_ingest_hook_reports_a_rescan_that_cannot_run_and_does_not_fail(ws: Workspace) -> None:
    cli = CliState(workspace_path=ws.settings.home)
    with exclusive_lock(ingest_lock_path(ws), "an ingest"):
        busy = rescan_after_ingest(cli, quiet=True)
    assert busy is not None and "already running" in str(busy["error"])
    done = rescan_after_ingest(cli, quiet=True)
    assert done is not None and done["cases"] == 1 and done["alerts"]
    cli.settings.standing.after_ingest = False
    assert rescan_after_ingest(cli, quiet=True) is None
