"""The whole flow on LFW-derived data with the real models and a real SMTP server.

Open a case, identify with the real engine, try to notify before confirmation (refused), confirm,
draft, send, check that exactly one mail with the right attachment arrived, send again (nothing),
render the report, then tamper with the audit table and watch `audit verify` fail.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cases.casework import add_team
from nextofkin.cases.service import identify_for_case
from nextofkin.cli import build_app
from nextofkin.demo.build import build_demo_gallery, post_mortem_probe
from nextofkin.identify.derived import ingest
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace
from notify.smtpd import smtp_server

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]


def test_case_to_family_end_to_end(lfw_dir: Path, tmp_path: Path) -> None:
    gallery = build_demo_gallery(lfw_dir / "images", tmp_path / "gallery", max_photos=50, seed=3)
    home = tmp_path / "ws"
    ws = Workspace.open(Settings.load(home))
    with ws.session() as s:
        add_team(s)
    ingest(ws, gallery.root, source_name="vk", workers=1)
    person = sorted(gallery.held_out)[0]
    relative = sorted(a.name for a in gallery.root.iterdir() if a.name != person)[0]
    probe = post_mortem_probe(gallery.held_out[person], tmp_path / "body.jpg", angle=90)

    runner = CliRunner()
    app = build_app()
    with smtp_server(tmp_path) as server:
        env = {
            "NEXTOFKIN_HOME": str(home),
            "NEXTOFKIN_SMTP_HOST": "127.0.0.1",
            "NEXTOFKIN_SMTP_PORT": str(server.port),
            "NEXTOFKIN_SMTP_FROM": "team@example.org",
            "NEXTOFKIN_NOTIFY__TEAM_NAME": "Identification Team North",
            "NEXTOFKIN_NOTIFY__TEAM_PHONE": "+380 44 000 00 00",
            "COLUMNS": "200",
        }

        def run(user: str, *args: str, code: int = 0) -> str:
            out = runner.invoke(app, ["--user", user, *args], env=env)
            assert out.exit_code == code, out.output
            return out.output

        run(
            "ivan",
            "case",
            "open",
            "E2E-1",
            "--photo",
            str(probe),
            "--found-at",
            "2024-05-17",
            "--place",
            "Izium, forest",
        )
        outcome = identify_for_case(ws, "ivan", "E2E-1", [], top=5)
        top = outcome.result.candidates[0]
        assert top.account == person, [c.account for c in outcome.result.candidates]

        # Before any confirmation: no draft, no send.
        refused = run("rita", "notify", "E2E-1", "--to", f"vk/{relative}", "--send", code=1)
        assert "PolicyViolation" in refused and "no confirmed identification" in refused

        run("rita", "review", "E2E-1", "--confirm", f"vk/{person}", "--reviewer", "rita")
        shown = json.loads(run("ivan", "case", "show", "E2E-1", "--json"))
        if shown["state"] != "identified":  # below `match`: policy wants a second reviewer
            assert shown["state"] == "under_review" and top.decision != "match"
            run("rob", "review", "E2E-1", "--confirm", f"vk/{person}")
            shown = json.loads(run("ivan", "case", "show", "E2E-1", "--json"))
        assert shown["state"] == "identified" and shown["identified_ref"] == f"vk/{person}"

        drafted = run(
            "ivan",
            "notify",
            "E2E-1",
            "--to",
            f"vk/{relative}",
            "--attach",
            "face",
            "--language",
            "uk",
            "--json",
        )
        [draft] = json.loads(drafted)["drafts"]
        sent = run("rita", "notify", "E2E-1", "--to", f"vk/{relative}", "--send")
        assert "sent to" in sent
        again = run(
            "rob",
            "notify",
            "E2E-1",
            "--to",
            f"vk/{relative}",
            "--attach",
            "face",
            "--language",
            "uk",
            "--send",
        )
        assert "already sent" in again

        report = tmp_path / "report.pdf"
        run("ivan", "case", "report", "E2E-1", "--format", "pdf", "--out", str(report))
        html = tmp_path / "report.html"
        run("ivan", "case", "report", "E2E-1", "--format", "html", "--out", str(html))

    [mail] = server.handler.received
    assert mail["To"].endswith(f"<{relative.lower()}@example.org>")
    parts = [p for p in mail.walk() if p.get_content_disposition() == "attachment"]
    assert [p.get_filename() for p in parts] == ["face.jpg"]
    attached = parts[0].get_payload(decode=True)
    assert hashlib.sha256(attached).hexdigest() == draft["attachment_sha256"]
    assert report.read_bytes().startswith(b"%PDF") and report.stat().st_size > 20_000
    text = html.read_text(encoding="utf-8")
    assert f"vk/{person}" in text and text.count("data:image/jpeg;base64,") >= 3

    assert "intact" in run("ivan", "audit", "verify")
    conn = sqlite3.connect(home / "nextofkin.db")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute(
        "UPDATE audit_log SET actor='nobody' WHERE seq = "
        "(SELECT MIN(seq) FROM audit_log WHERE action='review.confirm')"
    )
    conn.commit()
    seq = conn.execute(
        "SELECT seq FROM audit_log WHERE actor='nobody' AND action='review.confirm'"
    ).fetchone()[0]
    conn.close()
    broken = run("ivan", "audit", "verify", code=2)
    assert f"at entry {seq} (edited)" in broken
    ws.close()
