"""Records that SQLite accepts must also fit PostgreSQL (run on both by scripts/test.sh)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from nextofkin.gallery.formats import MAX_ACCOUNT_ID, MAX_CITY, MAX_NAME
from nextofkin.gallery.records import Account, IngestError
from nextofkin.identify.derived import ingest
from nextofkin.workspace import Workspace


def test_overlong_fields_are_clipped_or_reported_not_fatal(
    workspace: Workspace, tmp_path: Path
) -> None:
    # SQLite ignores VARCHAR lengths; PostgreSQL refuses the row and, with it, the whole batch.
    root = tmp_path / "export"
    root.mkdir()
    accounts = [
        {"account": "a1", "name": "N" * 400, "city": "C" * 250},
        {"account": "x" * (MAX_ACCOUNT_ID + 50)},
        {"account": "ok", "name": "Ok"},
    ]
    (root / "accounts.jsonl").write_text("\n".join(json.dumps(a) for a in accounts) + "\n")
    report = ingest(workspace, root, workers=1)
    assert report.accounts_added == 2
    assert any("account id of" in f.message for f in report.failures)
    with workspace.session() as session:
        stored = {a.external_id: a for a in session.scalars(select(Account))}
        assert set(stored) == {"a1", "ok"}
        assert stored["a1"].name == "N" * MAX_NAME and stored["a1"].city == "C" * MAX_CITY
        assert session.scalar(select(IngestError.item)) == "accounts.jsonl:2"
