"""The CLI defers an import only where that keeps ``nextofkin --help`` and light commands fast.

``tests/test_imports.py`` lets ``cli/`` import project modules inside functions for start-up time
alone. That holds when the module such an import names is not loaded by building the app anyway:
deferring a module the app has already loaded buys nothing and only hides an edge of the import
graph from ``lint-imports``, so it belongs at the top of the module. And the heavy ones (the web
layer, the report's PDF engine, Ray, FAISS, the model runtimes, plotting) must stay deferred.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "src" / "nextofkin" / "cli"
HEAVY = {"nextofkin.web.app", "nextofkin.reports", "nextofkin.evaluation.runner"}
HEAVY_PACKAGES = {
    "uvicorn",
    "weasyprint",
    "ray",
    "faiss",
    "onnx",
    "onnxruntime",
    "matplotlib",
    "dlib",
}


def _loaded_by_the_app() -> set[str]:
    """The modules loaded once the app is built, as ``nextofkin --help`` builds it."""
    code = (
        "import json, sys\n"
        "from nextofkin.cli import build_app\n"
        "build_app()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _deferred() -> dict[str, list[str]]:
    """Project modules imported inside a CLI function, with where."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nextofkin"):
                    found[node.module or ""].append(f"{path.name}:{node.lineno}")
    return dict(found)


def test_deferred_imports_are_of_modules_the_app_does_not_load() -> None:
    deferred = _deferred()
    assert deferred, "the scan sees the CLI's deferred imports"
    loaded = _loaded_by_the_app()
    assert "nextofkin.cli.core" in loaded  # the probe saw the app being built
    pointless = {module: where for module, where in deferred.items() if module in loaded}
    assert pointless == {}, "loaded by the app anyway: import these at the top of the module"
    heavy = sorted(m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY_PACKAGES)
    assert heavy == [], "`nextofkin --help` must not load these"
