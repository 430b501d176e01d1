"""One bad item never stops an ingest (issue 12 #6, #16): a hostile PNG, 1-pixel strips, a second
ingest at the same time, a full disk, a killed ingest's workers."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image
from skimage import data as skdata
from sqlalchemy import event, select, text
from typer.testing import CliRunner

from bad_images import ztxt_bomb_png
from nextofkin.cli import build_app
from nextofkin.errors import Busy, DiskFull
from nextofkin.gallery.records import Photo, PhotoStatus
from nextofkin.i18n import use_language
from nextofkin.identify.derived import ingest
from nextofkin.workspace import Workspace

pytestmark = pytest.mark.models


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _grace() -> np.ndarray:
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def bad_export(root: Path) -> Path:
    """Two accounts; the hostile and degenerate files come first in each, good photos after."""
    (root / "anna").mkdir(parents=True)
    (root / "anna" / "1-bomb.png").write_bytes(ztxt_bomb_png())
    _save(root / "anna" / "2-astronaut.jpg", skdata.astronaut())
    _save(
        root / "anna" / "3-astronaut-mirror.jpg", np.ascontiguousarray(skdata.astronaut()[:, ::-1])
    )
    _save(root / "boris" / "1-dot.png", np.full((1, 1, 3), 90, dtype=np.uint8))
    _save(root / "boris" / "2-strip.png", np.full((1, 40000, 3), 90, dtype=np.uint8))
    _save(root / "boris" / "3-grace.jpg", _grace())
    return root


def test_one_corrupt_png_does_not_stop_the_ingest(tmp_path: Path, workspace: Workspace) -> None:
    root = bad_export(tmp_path / "export")
    report = ingest(workspace, root, workers=2)
    failures = {f.item: f.message for f in report.failures}
    assert set(failures) == {"anna/1-bomb.png", "boris/1-dot.png", "boris/2-strip.png"}
    assert "1-bomb.png: truncated or corrupt image data" in failures["anna/1-bomb.png"]
    assert "1-dot.png: image is 1x1 px: too small to hold a face" in failures["boris/1-dot.png"]
    assert "2-strip.png: image is 40000x1 px: too small" in failures["boris/2-strip.png"]
    with workspace.session() as session:
        status = dict(session.execute(select(Photo.rel_path, Photo.status)).all())
    assert status["anna/2-astronaut.jpg"] == PhotoStatus.DONE
    assert status["anna/3-astronaut-mirror.jpg"] == PhotoStatus.DONE
    assert status["boris/3-grace.jpg"] == PhotoStatus.DONE
    assert report.faces_added >= 3


def test_ingest_workers_write_problems_in_the_ingests_language(
    tmp_path: Path, workspace: Workspace
) -> None:
    """The analysis workers are other processes: the ingest hands them its language."""
    root = tmp_path / "export"
    _save(root / "boris" / "1-dot.png", np.full((1, 1, 3), 90, dtype=np.uint8))
    _save(root / "boris" / "2-grace.jpg", _grace())
    with use_language("uk"):
        report = ingest(workspace, root, workers=2)
    failures = {f.item: f.message for f in report.failures}
    assert "1-dot.png: зображення має 1x1 пікс.: замало" in failures["boris/1-dot.png"]


def test_cli_ingest_with_a_corrupt_png_exits_0_and_names_it(tmp_path: Path) -> None:
    root = bad_export(tmp_path / "export")
    ws = tmp_path / "ws"
    args = ["-w", str(ws), "ingest", str(root), "--json", "-j", "1"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {f["item"] for f in report["failures"]} == {
        "anna/1-bomb.png",
        "boris/1-dot.png",
        "boris/2-strip.png",
    }
    assert report["faces_added"] >= 3

    # The same files as probes: a one-line "Error (Kind)" naming the photo, exit 1, no traceback.
    cli = CliRunner()
    added = cli.invoke(build_app(), ["-w", str(ws), "user", "add", "boss", "--role", "admin"])
    assert added.exit_code == 0, added.output
    for name, expected in (
        ("anna/1-bomb.png", "Error (UnreadableImage): 1-bomb.png: truncated or corrupt image data"),
        (
            "boris/1-dot.png",
            "Error (ImageTooSmall): 1-dot.png: image is 1x1 px: too small to hold a face",
        ),
        ("boris/2-strip.png", "Error (ImageTooSmall): 2-strip.png: image is 40000x1 px: too small"),
    ):
        probe = ["-w", str(ws), "--user", "boss", "identify", str(root / name)]
        result = cli.invoke(build_app(), probe)
        assert result.exit_code == 1, result.output
        assert expected in result.output
        assert "Traceback" not in result.output and result.exception is not None
        assert len(result.output.strip().splitlines()) == 1


def test_case_photo_on_a_full_disk_is_a_clear_error_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    probe = tmp_path / "body.jpg"
    _save(probe, skdata.astronaut())
    cli = CliRunner()
    added = cli.invoke(build_app(), ["-w", str(ws), "user", "add", "boss", "--role", "admin"])
    assert added.exit_code == 0, added.output

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    result = cli.invoke(build_app(), ["-w", str(ws), "--user", "boss", "identify", str(probe)])
    assert result.exit_code == 1, result.output
    assert "Error (DiskFull): the disk holding" in result.output
    assert "is full while writing" in result.output and "Traceback" not in result.output
    assert list((ws / "media").rglob("*.tmp")) == []


def test_second_ingest_at_the_same_time_is_told_another_is_running(
    tmp_path: Path, workspace: Workspace
) -> None:
    root = tmp_path / "export"
    _save(root / "anna" / "a.jpg", skdata.astronaut())
    inside, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def held_open(done: int, total: int) -> None:
        inside.set()
        release.wait(60)

    def first() -> None:
        try:
            outcome["report"] = ingest(workspace, root, workers=1, progress=held_open)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(120)
        with pytest.raises(Busy, match="an ingest is already running in this workspace \\(pid"):
            ingest(workspace, root, workers=1)
    finally:
        release.set()
        thread.join(120)
    assert "error" not in outcome
    # The lock went with the first run: a third one runs (and adds nothing).
    assert ingest(workspace, root, workers=1).photos_added == 0


def test_full_disk_during_ingest_is_a_clear_error(tmp_path: Path, workspace: Workspace) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("the full database is simulated with SQLite's max_page_count")
    root = tmp_path / "export"
    for n in range(24):  # more faces than the empty database's pages have room for
        _save(
            root / f"acc{n % 4}" / f"{n}.jpg",
            np.ascontiguousarray(np.roll(skdata.astronaut(), n, axis=1)),
        )
    with workspace.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM"))  # no free pages left for new rows to reuse
        pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    full = True

    @event.listens_for(workspace.engine, "connect")
    def _small_disk(dbapi_connection: object, _record: object) -> None:
        if full:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            # Not one page more than the empty workspace holds: the first new page fails.
            cursor.execute(f"PRAGMA max_page_count = {pages}")
            cursor.close()

    workspace.engine.dispose()
    with pytest.raises(DiskFull, match="is full while ingesting; nothing half-written"):
        ingest(workspace, root, workers=1)
    # Space freed: the next run finishes the work, nothing lost or duplicated.
    full = False
    workspace.engine.dispose()
    report = ingest(workspace, root, workers=1)
    assert not report.failures
    with workspace.session() as session:
        statuses = session.execute(select(Photo.status)).scalars().all()
    assert len(statuses) == 24 and set(statuses) == {PhotoStatus.DONE}


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_ingest_leaves_no_worker_processes(tmp_path: Path) -> None:
    root = tmp_path / "export"
    base = skdata.astronaut()
    for n in range(60):  # enough work that the workers are busy when the ingest is killed
        _save(root / f"acc{n % 6}" / f"{n}.jpg", np.ascontiguousarray(np.roll(base, n, axis=1)))
    command = [sys.executable, "-m", "nextofkin", "-w", str(tmp_path / "ws"), "ingest", str(root)]
    proc = subprocess.Popen(
        [*command, "-j", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        workers: list[int] = []
        for _ in range(600):
            workers = [p for p in _children(proc.pid) if "spawn_main" in _cmdline(p)]
            if len(workers) == 2 or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert len(workers) == 2, proc.stderr.read().decode() if proc.poll() is not None else ""
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    for _ in range(300):
        if not any(_alive(p) for p in workers):
            break
        time.sleep(0.1)
    survivors = [p for p in workers if _alive(p)]
    for pid in survivors:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
