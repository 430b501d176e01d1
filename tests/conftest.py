"""Fixtures shared by every test: where the shared data sets are, and fresh workspaces.

With ``NEXTOFKIN_TEST_DATABASE_URL`` set to a PostgreSQL server's URL (what
``scripts/postgres-test-server.sh`` prints), every workspace gets a fresh database of its own on
that server instead of SQLite; ``scripts/test.sh`` runs the database tests a second time so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nextofkin.settings import Settings
from nextofkin.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
LFW_DIR = SHARED / "datasets" / "lfw"


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """The LFW data set in ``../shared/datasets/lfw`` (the test is skipped when it is absent)."""
    if not (LFW_DIR / "images").is_dir():
        pytest.skip("../shared/datasets/lfw is not available")
    return LFW_DIR


@pytest.fixture
def database_url() -> Iterator[str | None]:
    """A fresh, empty PostgreSQL database when NEXTOFKIN_TEST_DATABASE_URL is set, else None."""
    server = os.environ.get("NEXTOFKIN_TEST_DATABASE_URL")
    if not server:
        yield None
        return
    from sqlalchemy import create_engine, make_url, text

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at a fresh, empty workspace directory (and database)."""
    if database_url is not None:
        # Commands the test runs (in-process or as subprocesses) must find the same database.
        monkeypatch.setenv("NEXTOFKIN_DATABASE_URL", database_url)
    return Settings.load(tmp_path / "workspace")


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    """A fresh, migrated workspace."""
    ws = Workspace.open(settings)
    try:
        yield ws
    finally:
        ws.close()
