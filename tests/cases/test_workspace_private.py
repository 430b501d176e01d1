"""The workspace and everything in it are owner-only, whatever the umask of whoever runs us."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cases.casework import add_team, photo
from nextofkin.cases.service import open_case
from nextofkin.gallery.index import FaissIndex
from nextofkin.gallery.maintenance import embedder_spec
from nextofkin.reports import write_report
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace, make_engine, migrate


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask of a login shell: new files readable by everyone."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _loose(home: Path) -> list[str]:
    """Entries under ``home`` (itself included) that group or others may use."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(home)} {stat.filemode(mode)}")
    return found


def _older_workspace(home: Path) -> None:
    """What a version without private files left behind, written under umask 022."""
    engine = make_engine(f"sqlite:///{home / 'nextofkin.db'}")
    migrate(engine)
    with engine.begin() as conn:  # leaves nextofkin.db-wal and -shm while the engine is open
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS scratch (x)")
    (home / "index").mkdir()
    (home / "index" / "faces-old.faiss").write_bytes(b"vectors")
    report = home / "media" / "reports" / "1" / "case-1.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>")
    case_photo = home / "media" / "cases" / "1" / "1.jpg"
    case_photo.parent.mkdir(parents=True)
    case_photo.write_bytes(b"jpeg")
    case_photo.chmod(0o444)
    assert (home / "nextofkin.db-wal").exists()
    engine.dispose()


def test_workspace_files_are_owner_only_under_umask_022(
    settings: Settings, tmp_path: Path, umask_022: None
) -> None:
    home = settings.home
    home.mkdir(parents=True)
    _older_workspace(home)
    assert _loose(home)  # the reproduction: 0755 folders, 0644 files, 0444 case photos
    ws = Workspace.open(settings)
    try:
        assert _loose(home) == []
        assert stat.S_IMODE((home / "media" / "cases" / "1" / "1.jpg").stat().st_mode) == 0o400
        # Everything written from now on is owner-only too: database, case photos, index, report.
        with ws.session() as s:
            add_team(s)
            info = open_case(s, ws, "ivan", "K-1", [photo(tmp_path / "p.jpg")])
        spec = embedder_spec(ws)
        index = FaissIndex.create(ws.index_dir, spec)
        index.add(np.array([1]), np.ones((1, spec.dim), np.float32) / np.sqrt(spec.dim))
        index.save()
        write_report(ws, "ivan", "K-1")
        assert _loose(home) == []
        copy = ws.media_dir / info.photos[0].stored_path
        assert stat.S_IMODE(copy.stat().st_mode) == 0o400
        if ws.engine.dialect.name == "sqlite":  # PostgreSQL's files are the server's
            with ws.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    finally:
        ws.close()
