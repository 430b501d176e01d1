"""At most once, even when the sending process is killed (SIGKILL) in the middle of a send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nextofkin import audit
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.service import draft
from nextofkin.workspace import Workspace
from notify.smtpd import Handler, smtp_server

pytestmark = pytest.mark.slow


def cli(ws: Workspace, port: int, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "NEXTOFKIN_HOME": str(ws.home),
        "NEXTOFKIN_USER": "rita",
        "NEXTOFKIN_SMTP_HOST": "127.0.0.1",
        "NEXTOFKIN_SMTP_PORT": str(port),
        "NEXTOFKIN_SMTP_FROM": "team@example.org",
        "NEXTOFKIN_NOTIFY__BACKOFF_SECONDS": "0.01",
        "NEXTOFKIN_NOTIFY__TEAM_NAME": "Identification Team North",
        "NEXTOFKIN_NOTIFY__TEAM_EMAIL": "team@example.org",
        "COLUMNS": "200",
    }
    code = "from nextofkin.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def row_state(ws: Workspace) -> str:
    with ws.session() as s:
        return s.query(OutboxMessage).one().state


def kill_when(proc: subprocess.Popen[str], event: object) -> None:
    assert event.wait(60), "the client never got that far"  # type: ignore[attr-defined]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)  # reaped: its pid is gone, as after a crash
    assert proc.returncode == -signal.SIGKILL


def test_killed_after_body_is_never_resent(confirmed: Workspace, tmp_path: Path) -> None:
    ws = confirmed
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["vk/maria"], attach="face")
    handler = Handler(hang_after_data=20)
    with smtp_server(tmp_path, handler=handler) as server:
        proc = cli(ws, server.port, "notify", "C1", "--to", "vk/maria", "--send")
        kill_when(proc, handler.got_body)
        # Killed between the server receiving the message and anyone recording it.
        assert row_state(ws) == "sending"
        handler.hang_after_data = 0
        again = cli(ws, server.port, "notify", "C1", "--to", "vk/maria", "--send")
        out, _ = again.communicate(timeout=120)
        assert again.returncode == 4, out
        assert "uncertain" in out and "NOT re-sent" in out
        assert handler.bodies_seen == 1
        assert row_state(ws) == "uncertain"
        # A person finds the message in the server log and records it; nothing more goes out.
        marked = cli(
            ws,
            server.port,
            "notify",
            "mark-sent",
            "C1",
            "--to",
            "vk/maria",
            "--note",
            "found in the relay log",
        )
        assert marked.wait(120) == 0
        third = cli(ws, server.port, "notify", "C1", "--to", "vk/maria", "--send")
        out, _ = third.communicate(timeout=120)
        assert third.returncode == 0 and "already sent" in out, out
    assert handler.bodies_seen == 1 and len(handler.received) == 1
    with ws.session() as s:
        actions = [e.action for e in audit.entries(s, case="C1")]
        assert audit.verify(s).ok
    assert actions.count("notify.sending") == 1
    assert "notify.uncertain" in actions and "notify.mark_sent" in actions


def test_killed_before_body_needs_a_person_too(confirmed: Workspace, tmp_path: Path) -> None:
    """The price of at-most-once: a send killed before anything went out is not retried either."""
    ws = confirmed
    with ws.session() as s:
        draft(s, ws, "ivan", "C1", ["vk/maria"])
    handler = Handler(hang_at_rcpt=20)
    with smtp_server(tmp_path, handler=handler) as server:
        proc = cli(ws, server.port, "notify", "C1", "--to", "vk/maria", "--send")
        kill_when(proc, handler.got_rcpt)
        handler.hang_at_rcpt = 0
        again = cli(ws, server.port, "notify", "C1", "--to", "vk/maria", "--send")
        assert again.wait(120) == 4
        assert handler.bodies_seen == 0
        release = cli(
            ws,
            server.port,
            "notify",
            "release",
            "C1",
            "--to",
            "vk/maria",
            "--reason",
            "not in the relay log",
        )
        assert release.wait(120) == 0
        last = cli(ws, server.port, "notify", "C1", "--to", "vk/maria", "--send")
        out, _ = last.communicate(timeout=120)
        assert last.returncode == 0, out
    assert len(handler.received) == 1 and row_state(ws) == "sent"
