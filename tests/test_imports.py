"""No ``nextofkin`` import hidden inside a function, and no import by name (docs/ARCHITECTURE.md).

A ``from nextofkin…`` (or relative) import inside a function hides an edge of the import graph
from ``lint-imports``: it is how a cycle or an upward import dodges the layers contract. Only the
CLI may defer its own imports, to keep ``nextofkin identify`` starting fast (the commands'
modules load what each command needs; helper tests of the CLI check those). A heavy
*third-party* module (onnx, matplotlib, dlib, onnxruntime) may still be imported inside a
function, with a comment saying why; ``if TYPE_CHECKING:`` imports for annotations are fine.

``importlib.import_module`` / ``__import__`` hide the edge the same way, wherever they sit.

What still breaks the rule is listed below with its count today: an entry may shrink but never
grow, and nothing new may join. An entry that reaches zero is reported, to be taken off.
"""

from __future__ import annotations

import ast
import warnings
from collections import Counter
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# Deferred imports are allowed here only (start-up time of the command line).
EXEMPT = ("nextofkin/cli/",)

# module path -> function-level nextofkin imports in it today (the shrinking allow-list)
FUNCTION_IMPORTS: dict[str, int] = {}
# module path -> imports by name (importlib) in it today
IMPORTS_BY_NAME: dict[str, int] = {}


def _is_project_import(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "nextofkin"
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "nextofkin" for alias in node.names)
    return False


def _is_import_by_name(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def function_imports(tree: ast.AST) -> list[int]:
    """Line numbers of the project imports that sit inside a function (at any depth)."""
    found: list[int] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and _is_project_import(child):
                found.append(child.lineno)  # type: ignore[attr-defined]
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, inner)

    visit(tree, False)
    return found


def imports_by_name(tree: ast.AST) -> list[int]:
    """Line numbers of ``importlib.import_module(...)`` / ``__import__(...)`` calls."""
    return [node.lineno for node in ast.walk(tree) if _is_import_by_name(node)]  # type: ignore[attr-defined]


def _counts() -> tuple[Counter[str], Counter[str]]:
    deferred: Counter[str] = Counter()
    by_name: Counter[str] = Counter()
    for path in sorted((SRC / "nextofkin").rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(EXEMPT):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if lines := function_imports(tree):
            deferred[rel] = len(lines)
        if lines := imports_by_name(tree):
            by_name[rel] = len(lines)
    return deferred, by_name


def _check(found: Counter[str], allowed: dict[str, int], what: str) -> None:
    new = {k: v for k, v in found.items() if k not in allowed}
    grown = {k: (allowed[k], v) for k, v in found.items() if k in allowed and v > allowed[k]}
    assert not new, f"{what} (move them to the module's top; fix the cycle if one appears): {new}"
    assert not grown, f"{what}: an allow-listed module gained some (was, now): {grown}"
    fixed = sorted(k for k in allowed if found.get(k, 0) < allowed[k])
    if fixed:
        warnings.warn(f"{what}: fewer now, lower or remove the entries: {fixed}", stacklevel=2)


def test_no_nextofkin_import_inside_a_function() -> None:
    _check(_counts()[0], FUNCTION_IMPORTS, "nextofkin imports inside a function")


def test_no_import_by_name() -> None:
    _check(_counts()[1], IMPORTS_BY_NAME, "imports by name")


def test_the_detector_sees_what_it_must() -> None:
    # The guard itself: a deferred project import is caught at any depth, a relative one too;
    # module-level, TYPE_CHECKING and third-party function imports are not.
    source = (
        "from typing import TYPE_CHECKING\n"
        "import nextofkin.errors\n"
        "if TYPE_CHECKING:\n"
        "    from nextofkin.vision.models import ModelRegistry\n"
        "def f():\n"
        "    import onnx\n"
        "    from nextofkin.gallery import records\n"
        "    def g():\n"
        "        from . import sibling\n"
        "class C:\n"
        "    async def h(self):\n"
        "        import nextofkin.identify.search\n"
        "        return importlib.import_module('nextofkin.kin')\n"
    )
    tree = ast.parse(source)
    assert function_imports(tree) == [7, 9, 12]
    assert imports_by_name(tree) == [13]
