"""The audit chain: appends, tamper detection (edit, delete, reorder, truncate), concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextofkin import audit
from nextofkin.cli import build_app
from nextofkin.errors import AuditIntegrityError
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace


def fill(ws: Workspace, n: int = 6) -> None:
    with ws.session() as s:
        for i in range(n):
            audit.record(
                s,
                "ivan",
                audit.Action.SEARCH,
                f"case:C{i % 2}",
                {"i": i, "ok": True},
                case=f"C{i % 2}",
            )


def db(ws: Workspace) -> sqlite3.Connection:
    """A raw connection, as someone tampering with the file would use, triggers dropped."""
    conn = sqlite3.connect(ws.home / "nextofkin.db")
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    conn.execute("DROP TRIGGER IF EXISTS audit_head_forward")
    return conn


def problems(ws: Workspace, anchor: tuple[int, str] | None = None) -> list[tuple[int, str]]:
    with ws.session() as s:
        return [(p.seq, p.kind) for p in audit.verify(s, anchor=anchor).problems]


def test_intact_chain_verifies(workspace: Workspace) -> None:
    fill(workspace)
    with workspace.session() as s:
        report = audit.verify(s)
        rows = audit.entries(s, case="C1")
    assert report.ok and report.checked == 6 and report.head_seq == 6
    assert [r.details["i"] for r in rows] == [1, 3, 5]
    assert rows[0].prev_hash != rows[1].prev_hash


def test_database_refuses_update_and_delete(workspace: Workspace) -> None:
    fill(workspace, 2)
    conn = sqlite3.connect(workspace.home / "nextofkin.db")
    for statement in ("UPDATE audit_log SET actor='eve'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    assert problems(workspace) == []


def test_edit_is_found_where_it_is(workspace: Workspace) -> None:
    fill(workspace)
    with db(workspace) as conn:
        conn.execute("""UPDATE audit_log SET details='{"i":3,"ok":false}' WHERE seq=4""")
    assert problems(workspace) == [(4, "edited")]


def test_actor_edit_even_with_rehash_breaks_the_next_link(workspace: Workspace) -> None:
    """A forger who recomputes the edited entry's hash still breaks the entry after it."""
    fill(workspace)
    with workspace.session() as s:
        row = audit.entries(s)[2]
    forged = audit.service.entry_hash(
        row.prev_hash,
        row.seq,
        row.at,
        "eve",
        row.action,
        row.subject,
        row.case_number,
        audit.service.canonical_json(row.details),
    )
    with db(workspace) as conn:
        conn.execute("UPDATE audit_log SET actor='eve', hash=? WHERE seq=3", (forged,))
    assert problems(workspace) == [(4, "relinked")]


def test_deleted_entry_is_found(workspace: Workspace) -> None:
    fill(workspace)
    with db(workspace) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq=3")
    assert problems(workspace) == [(4, "missing"), (4, "relinked")]


def test_reordered_entries_are_found(workspace: Workspace) -> None:
    fill(workspace)
    with db(workspace) as conn:  # swap the positions of entries 2 and 5
        conn.execute("UPDATE audit_log SET seq=-2 WHERE seq=2")
        conn.execute("UPDATE audit_log SET seq=2 WHERE seq=5")
        conn.execute("UPDATE audit_log SET seq=5 WHERE seq=-2")
    found = problems(workspace)
    assert {seq for seq, _ in found} >= {2, 3, 5, 6}
    assert (2, "edited") in found and (5, "edited") in found


def test_truncated_tail_is_found_by_head_and_anchor(workspace: Workspace) -> None:
    fill(workspace)
    with workspace.session() as s:
        anchor = audit.head(s)
    with db(workspace) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq>=5")
    assert problems(workspace) == [(5, "truncated")]
    with db(workspace) as conn:  # the forger fixes the head row too
        last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        conn.execute("UPDATE audit_head SET seq=?, hash=?", last)
    assert problems(workspace) == []
    assert problems(workspace, anchor) == [(6, "anchor")]


def test_record_rolls_back_with_the_action(workspace: Workspace) -> None:
    with pytest.raises(RuntimeError), workspace.session() as s:
        audit.record(s, "ivan", audit.Action.SEARCH, "case:C1", {})
        raise RuntimeError("the action failed")
    fill(workspace, 1)
    with workspace.session() as s:
        assert [e.seq for e in audit.entries(s)] == [1] and audit.verify(s).ok


def test_missing_head_row(workspace: Workspace) -> None:
    with db(workspace) as conn:
        conn.execute("DROP TRIGGER audit_head_no_delete")
        conn.execute("DELETE FROM audit_head")
    with workspace.session() as s, pytest.raises(AuditIntegrityError):
        audit.record(s, "ivan", audit.Action.SEARCH, "x", {})


def _append_many(home: str, who: str, n: int) -> None:
    ws = Workspace.open(Settings.load(Path(home)), migrate_schema=False)
    for i in range(n):
        with ws.session() as s:
            audit.record(s, who, audit.Action.SEARCH, f"case:{who}", {"i": i})
    ws.close()


def test_concurrent_writers_keep_one_chain(workspace: Workspace) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(workspace.home), who, 40)) for who in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with workspace.session() as s:
        report = audit.verify(s)
    assert report.ok and report.checked == 80


def test_cli_verify_says_where(workspace: Workspace) -> None:
    fill(workspace)
    runner = CliRunner()
    args = ["--workspace", str(workspace.home), "audit", "verify"]
    ok = runner.invoke(build_app(), args)
    assert ok.exit_code == 0 and "intact" in ok.output
    with db(workspace) as conn:
        conn.execute("UPDATE audit_log SET subject='case:C9' WHERE seq=2")
    bad = runner.invoke(build_app(), args)
    assert bad.exit_code == 2
    assert "at entry 2 (edited)" in bad.output
