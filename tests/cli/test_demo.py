"""README command 1 runs `nextofkin demo`: a small run of it end to end, so a change to a
command it calls cannot break the first thing a new team runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextofkin.cli import build_app

pytestmark = [pytest.mark.models, pytest.mark.lfw, pytest.mark.slow]


def test_the_demo_runs_end_to_end_on_a_small_gallery(lfw_dir: Path, tmp_path: Path) -> None:
    args = ["-w", str(tmp_path / "ws"), "demo", "--photos", "120", "-j", "1"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert "ingest" in result.output and "identify" in result.output
