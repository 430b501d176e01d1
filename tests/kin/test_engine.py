"""The kin engine and its CLI on a small generated gallery, ingested with the real face models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextofkin.cli import build_app
from nextofkin.errors import NotFound
from nextofkin.identify.derived import ingest
from nextofkin.kin.declared import kinship_of
from nextofkin.kin.engine import KinService
from nextofkin.kin.evaluate import evaluate, load_truth
from nextofkin.kin.sample.generate import generate
from nextofkin.kin.scoring import PERSON, RELATIVE, Declaration
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
        assert {"account", "score", "relation", "reasons", "evidence", "declared"} <= set(rel)
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
    groups = report.top1_relative_by_declared
    assert sum(g["accounts"] for g in groups.values()) == report.accounts_with_relatives
    assert groups["relative"]["accounts"] >= 1  # the fixture declares a true relative


def test_declared_relatives_show_with_their_type_and_can_be_ignored(
    ingested: tuple[Workspace, Path],
) -> None:
    ws, root = ingested
    truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    accounts = set(truth["accounts"])
    declared = [
        d for d in truth["declared_relatives"] if d["relative"] in accounts and d["truth"] != "none"
    ]
    assert declared, "the fixture gallery declares no relative: choose another seed"
    service = KinService(ws)
    for d in declared:
        relations = {r.account: r for r in service.kin(d["account"], top=50).relations}
        shown = relations[d["relative"]]
        assert Declaration(PERSON, d["type"], kinship_of(d["type"], declared_by_person=True)) in (
            shown.declared
        )
        assert shown.relation == "family"
        assert any("declared on the person's profile" in r for r in shown.reasons)
        # Seen from the relative, the same declaration is on the other side.
        back = {r.account: r for r in service.kin(d["relative"], top=50).relations}
        assert any(x.by == RELATIVE for x in back[d["account"]].declared)
    plain = KinService(ws, declared=False)
    for d in declared:
        assert all(not r.declared for r in plain.kin(d["account"], top=50).relations)


def test_positioned_tag_attributes_the_face_to_the_tagged_account(
    ingested: tuple[Workspace, Path],
) -> None:
    ws, root = ingested
    truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    service = KinService(ws)
    positioned = [
        (photo, tag)
        for photo in truth["photos"]
        for tag in photo["tagged"]
        if tag["form"] != "plain" and tag["person"] is not None
    ]
    assert positioned, "the fixture gallery has no positioned tag: choose another seed"
    pinned = 0
    for photo, tag in positioned:
        relations = {r.account: r for r in service.kin(photo["account"], top=50).relations}
        shown = relations.get(tag["account"])
        assert shown is not None, "a tagged account is always a candidate"
        pinned += any(e.photo == photo["path"] and e.tag == tag["form"] for e in shown.evidence)
    # The tagged face must be detected and not be taken for the poster's own face.
    assert pinned >= 0.75 * len(positioned)


def test_family_circle_graph_holds_who_is_seen_or_linked_together(
    ingested: tuple[Workspace, Path],
) -> None:
    ws, root = ingested
    truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    service, plain = KinService(ws), KinService(ws, declared=False)
    with ws.session() as session:
        links = service.links(session)
        together, without = service.together(session), plain.together(session)
    ids = {info.external_id: acc for acc, info in links.accounts.items()}
    for a, linked in together.items():
        assert a not in linked
        assert all(a in together[b] for b in linked)  # symmetric
    for a, declared in links.declares.items():
        assert all(b in together[a] for b, _ in declared)
    for a, listers in links.listed_by.items():
        assert all(b in together[a] for b in listers if a in links.listed_by.get(b, ()))
    assert all(linked <= together[a] for a, linked in without.items())  # declared links only add
    # Two account holders placed in one photo are seen together (faces resolved as kin does).
    pairs = {
        (ids[p["account"]], ids[truth["people"][f["person"]]["account"]])
        for p in truth["photos"]
        for f in p["faces"]
        if truth["people"][f["person"]].get("account") not in (None, p["account"])
    }
    assert pairs, "the fixture gallery has no joint photo of two account holders"
    seen = sum(b in together.get(a, set()) for a, b in pairs)
    assert seen >= 0.75 * len(pairs)
