"""Where the domain's error messages are made: every construction of a ``NextOfKinError`` class.

What a person reads after ``Error (Kind): `` in the CLI, and in the web's error shape, is the
message given where the error is made. A message written there as a plain string or an f-string
would stay English in every language; one wrapped in ``gettext`` / ``_`` / ``ngettext`` reaches
the catalogue. The scan reads the sources with :mod:`ast` (no import, so no side effect), finds
the error classes (``NextOfKinError`` and every class deriving from one, in any module), and
classifies the message of each call to one of them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "nextofkin"
ROOT_ERROR = "NextOfKinError"
TRANSLATORS = frozenset({"_", "gettext", "ngettext", "pgettext", "lazy_gettext"})
# Per-item records a person reads (an ingest's problems, the audit check's findings): the
# position of their message argument.
RECORDS = {"ItemProblem": 1, "VerifyProblem": 2}


@dataclass(frozen=True)
class Site:
    """One construction of a domain error, and what its message is."""

    where: str
    error: str
    # "wrapped": through gettext; "literal": a plain string or f-string (a failure);
    # "built": a value made elsewhere (a variable, a stored message), judged where it is made.
    kind: str
    msgids: tuple[str, ...]


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def error_classes(trees: dict[str, ast.Module]) -> set[str]:
    """``NextOfKinError`` and every class that derives from one of them, by name."""
    found = {ROOT_ERROR}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in found
                    and any(_name(base) in found for base in node.bases)
                ):
                    found.add(node.name)
                    grew = True
    return found


def _is_text(node: ast.expr) -> bool:
    """A message written in place: a string, an f-string, or text joined or formatted."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):  # "a" + b, "a %s" % b
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _is_text(node.func.value)  # "...".format(...), "; ".join(...) of text
    return False


def _msgids(node: ast.expr) -> tuple[str, ...]:
    """The msgids of the gettext calls that make a message (both branches of an ``if``)."""
    if isinstance(node, ast.IfExp):
        return _msgids(node.body) + _msgids(node.orelse)
    if isinstance(node, ast.Call) and _name(node.func) in TRANSLATORS and node.args:
        first = node.args[1] if _name(node.func) == "pgettext" else node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return (first.value,)
    return ()


def _message(call: ast.Call, position: int) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg in ("message", "msg")), None)


def classify(message: ast.expr) -> str:
    """``wrapped``, ``literal`` or ``built`` (see :class:`Site`)."""
    if _msgids(message):
        return "wrapped"
    if _is_text(message):
        return "literal"
    return "built"


def scan_source(text: str, where: str, classes: set[str]) -> list[Site]:
    """The domain-error constructions of one module's source."""
    sites = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if called in classes or called in RECORDS:
            message = _message(node, RECORDS.get(str(called), 0))
            if message is None:
                continue
            line = f"{where}:{node.lineno}"
            sites.append(Site(line, str(_name(node.func)), classify(message), _msgids(message)))
    return sites


def scan() -> list[Site]:
    """Every domain-error construction in ``src/nextofkin``."""
    trees = {
        str(path.relative_to(SRC)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(SRC.rglob("*.py"))
    }
    classes = error_classes(trees)
    return [
        site
        for where in trees
        for site in scan_source((SRC / where).read_text(encoding="utf-8"), where, classes)
    ]
