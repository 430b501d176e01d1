"""An ingest killed with SIGKILL mid-way is finished exactly by the next run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lfw_gallery import build

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]


def _cli(workspace: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "nextofkin", "-w", str(workspace), *args]


def _done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(
                conn.execute("select count(*) from photos where status='done'").fetchone()[0]
            )
    except sqlite3.OperationalError:
        return 0


def _snapshot(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        faces = conn.execute(
            "select i.sha256, f.ordinal, round(f.left), round(f.top) from faces f "
            "join images i on i.id = f.image_id order by 1, 2"
        ).fetchall()
        photos = conn.execute(
            "select rel_path, status from photos order by rel_path, account_id"
        ).fetchall()
        roles = conn.execute(
            "select a.external_id, i.sha256, f.ordinal, r.role from face_roles r "
            "join faces f on f.id = r.face_id join images i on i.id = f.image_id "
            "join accounts a on a.id = r.account_id order by 1, 2, 3"
        ).fetchall()
    return {"faces": faces, "photos": photos, "roles": roles}


def test_sigkill_mid_ingest_then_rerun_is_exact(lfw_dir: Path, tmp_path: Path) -> None:
    # Big enough that ingest (which commits every 2 s) is still embedding when killed, even on
    # an idle machine with the ONNX embedder.
    owners, distractors = 20, 40
    gallery = build(lfw_dir, tmp_path / "gallery", owners=owners, distractors=distractors, seed=5)
    killed_ws, clean_ws = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cli(killed_ws, "ingest", str(gallery.root), "-j", "2", "--json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    db = killed_ws / "nextofkin.db"
    deadline = time.monotonic() + 300
    while _done(db) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed; make the gallery bigger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _done(db)
    assert 8 <= partial < owners * 3 + distractors + 2

    rerun = subprocess.run(
        _cli(killed_ws, "ingest", str(gallery.root), "-j", "2", "--json"),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert '"accounts_added": 0' in rerun.stdout
    subprocess.run(
        _cli(clean_ws, "ingest", str(gallery.root), "-j", "2", "--json"),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert _snapshot(db) == _snapshot(clean_ws / "nextofkin.db")
    subprocess.run(_cli(killed_ws, "user", "add", "ada", "--role", "admin"), env=env, check=True)
    status = subprocess.run(
        _cli(killed_ws, "--user", "ada", "status", "--json"),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    import json

    info = json.loads(status.stdout)
    assert info["index_faces"] == info["faces"]
    assert info["photos_pending"] == 0
