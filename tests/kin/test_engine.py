"""The kin engine and its CLI on a small generated gallery, ingested with the real face models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextofkin.cli import build_app
from nextofkin.errors import NotFound
from nextofkin.gallery.ingest import ingest
from nextofkin.kin.engine import KinService
from nextofkin.kin.evaluate import evaluate, load_truth
from nextofkin.kin.sample.generate import generate
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]


@pytest.fixture(scope="module")
def ingested(
    lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, Path]]:
    base = tmp_path_factory.mktemp("kin")
    root = base / "kin-gallery"
    generate(lfw_dir / "images", root, seed=21, accounts=8, density=0.6, workers=2)
    ws = Workspace.open(Settings.load(base / "ws"))
    ingest(ws, root, workers=2)
    try:
        yield ws, root
    finally:
        ws.close()


def _with_relatives(root: Path) -> list[str]:
    truth = load_truth(root)
    return sorted(a for a in truth.owner_of if truth.relatives.get(a))


def test_kin_ranks_true_relatives_with_reasons_and_evidence(
    ingested: tuple[Workspace, Path],
) -> None:
    ws, root = ingested
    truth = load_truth(root)
    service = KinService(ws)
    accounts = _with_relatives(root)
    assert accounts
    found_first = 0
    for account in accounts:
        result = service.kin(account, top=5)
        assert result.account == account
        scores = [r.score for r in result.relations]
        assert scores == sorted(scores, reverse=True)
        assert account not in {r.account for r in result.relations}
        if result.relations and result.relations[0].account in truth.relatives[account]:
            found_first += 1
            top = result.relations[0]
            assert top.reasons
            assert top.evidence or any("friend" in r for r in top.reasons)
    # A small gallery is noisy; still, most people's first candidate is a true relative.
    assert found_first >= 0.6 * len(accounts)


def test_unknown_account_is_not_found(ingested: tuple[Workspace, Path]) -> None:
    ws, _ = ingested
    with pytest.raises(NotFound):
        KinService(ws).kin("nobody-has-this-id")


def test_cli_json_shape(ingested: tuple[Workspace, Path]) -> None:
    ws, root = ingested
    account = _with_relatives(root)[0]
    runner = CliRunner()
    base = ["--workspace", str(ws.home)]
    added = runner.invoke(build_app(), [*base, "user", "add", "ana", "--role", "admin"])
    assert added.exit_code == 0, added.output
    result = runner.invoke(
        build_app(), [*base, "--user", "ana", "kin", account, "--top", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data)[:2] == ["account", "relations"]
    assert data["account"] == account
    assert len(data["relations"]) <= 3
    for rel in data["relations"]:
        assert {"account", "score", "relation", "reasons", "evidence"} <= set(rel)
        assert rel["relation"] in {"family", "friend", "unknown"}
    missing = runner.invoke(build_app(), [*base, "--user", "ana", "kin", "nobody"])
    assert missing.exit_code != 0


def test_evaluation_reports_figures(ingested: tuple[Workspace, Path]) -> None:
    ws, root = ingested
    report = evaluate(KinService(ws), root)
    assert report.accounts_evaluated == 8
    assert report.accounts_with_relatives == len(_with_relatives(root))
    assert 0.0 <= report.recall_at_5 <= 1.0
    assert report.face_detection_recall > 0.9
    assert report.owner_resolution_accuracy > 0.8
    assert "sibling_pairs" in report.sibling_search_merges
