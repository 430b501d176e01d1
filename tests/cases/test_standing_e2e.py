"""End to end with the real models: a body searched before the person's account is in the gallery
is alerted by the ingest that brings the account (``nextofkin ingest`` runs the standing search)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextofkin.cli import build_app

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]

PERSON = "Colin_Powell"  # many photos in LFW: one is the body, two arrive later as his account


def _export(root: Path, accounts: dict[str, list[Path]]) -> Path:
    for account, photos in accounts.items():
        (root / account).mkdir(parents=True)
        for photo in photos:
            shutil.copyfile(photo, root / account / photo.name)
    return root


def _run(ws: Path, *args: str) -> str:
    result = CliRunner().invoke(build_app(), ["-w", str(ws), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_ingest_that_brings_the_person_alerts_the_case(lfw_dir: Path, tmp_path: Path) -> None:
    images = lfw_dir / "images"
    singles = sorted(
        p.name
        for p in images.iterdir()
        if p.is_dir() and p.name != PERSON and len(list(p.glob("*.jpg"))) == 1
    )[:40]
    first = _export(
        tmp_path / "first", {name: sorted((images / name).glob("*.jpg")) for name in singles[:36]}
    )
    person = sorted((images / PERSON).glob("*.jpg"))
    later = _export(
        tmp_path / "later",
        {PERSON: person[1:3], **{n: sorted((images / n).glob("*.jpg")) for n in singles[36:]}},
    )
    ws = tmp_path / "ws"
    _run(ws, "user", "add", "chief", "--role", "admin")
    before = json.loads(_run(ws, "ingest", str(first), "--json", "-j", "1"))
    assert before["standing"]["cases"] == 0  # no case has a stored probe yet
    found = json.loads(
        _run(ws, "--user", "chief", "identify", str(person[0]), "--case", "BODY-1", "--json")
    )
    assert PERSON not in {c["account"] for c in found["candidates"]}
    after = json.loads(_run(ws, "ingest", str(later), "--json", "-j", "1"))
    assert after["standing"]["cases"] == 1 and after["standing"]["faces_compared"] >= 2
    alerted = {a["account_ref"] for a in after["standing"]["alerts"]}
    assert f"later/{PERSON}" in alerted
    listed = json.loads(_run(ws, "--user", "chief", "alerts", "--json"))
    assert f"later/{PERSON}" in {a["account_ref"] for a in listed}
    again = json.loads(_run(ws, "--user", "chief", "case", "rescan", "--json"))
    assert again["faces_compared"] == 0 and again["alerts"] == []
