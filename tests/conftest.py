"""Fixtures shared by every test: where the shared data sets are, and fresh workspaces."""

from __future__ import annotations

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
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh, empty workspace directory."""
    return Settings.load(tmp_path / "workspace")


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    """A fresh, migrated workspace."""
    ws = Workspace.open(settings)
    try:
        yield ws
    finally:
        ws.close()
