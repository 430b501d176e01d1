"""Start-up stays light: every command is a new process (issue 15: identify under 2 s).

Opening an up-to-date workspace does not load Alembic, and building the command line loads none
of the heavy libraries that only some commands need (each loads them when it runs).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from nextofkin import workspace
from nextofkin.settings import Settings
from nextofkin.workspace import MIGRATIONS, Workspace, at_heads, make_engine, script_heads

# Libraries only some commands need: the ONNX graph builder (a model conversion), the web server,
# PDF reports, plots, the cluster, Milvus, SciPy, Alembic (a schema change), pkg_resources, and
# e-mail address checking.
HEAVY = (
    "onnx",
    "fastapi",
    "uvicorn",
    "weasyprint",
    "matplotlib",
    "ray",
    "pyarrow",
    "pymilvus",
    "scipy",
    "alembic",
    "pkg_resources",
    "email_validator",
    "typer.rich_utils",  # Typer's help and error drawing (rich Markdown, syntax, tracebacks)
)


def test_the_heads_read_from_the_scripts_are_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert script_heads() == set(ScriptDirectory.from_config(config).get_heads())


def test_heads_are_read_in_either_quoting_and_an_unreadable_script_means_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    scripts = {
        "0001_a.py": 'revision: str = "a"\ndown_revision: str | None = None\n',
        "0002_b.py": "revision = 'b'\ndown_revision = 'a'\n",  # as Alembic's template writes
        "0003_c.py": 'revision = "c"\ndown_revision = "a"\n',
        "0004_m.py": 'revision = "m"\ndown_revision = (\n    "b",\n    "c",\n)\n',
        "0005_d.py": 'revision = "d"\ndown_revision = "b"\n',
    }
    for name, body in scripts.items():
        (versions / name).write_text(body)
    monkeypatch.setattr(workspace, "MIGRATIONS", tmp_path)
    assert script_heads() == {"m", "d"}
    (versions / "0006_odd.py").write_text("REVISION = 'x'\n")
    assert script_heads() == set()


def test_at_heads_follows_the_version_table(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert not at_heads(engine)  # no schema yet
    ws = Workspace.open(Settings.load(tmp_path / "ws"))
    assert at_heads(ws.engine)
    with ws.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001_gallery'"))
    assert not at_heads(ws.engine)


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    )
    return set(done.stdout.split())


def test_the_command_line_and_an_open_workspace_load_no_heavy_library(tmp_path: Path) -> None:
    Workspace.open(Settings.load(tmp_path / "ws")).close()  # migrated: the next open is current
    loaded = _modules_after(
        "import nextofkin.cli as cli\n"
        "from nextofkin.settings import Settings\n"
        "from nextofkin.workspace import Workspace\n"
        "from pathlib import Path\n"
        "cli.build_app()\n"
        f"Workspace.open(Settings.load(Path({str(tmp_path / 'ws')!r})))\n"
    )
    assert "nextofkin.cli.core" in loaded  # the probe ran
    assert sorted(name for name in HEAVY if name in loaded) == []
