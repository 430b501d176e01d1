"""Which strings of ``src/nextofkin/cli`` a person reads, and which of them skip the catalogue.

A string is *shown* when it reaches a person: an argument of ``console.print``, ``typer.echo``,
``typer.confirm``, a rich ``Table``/column/row/progress column, a ``help=``/``title=`` keyword,
or an exception raised with it. It is *marked* when it is the message of ``_``/``gettext``/
``ngettext``/``pgettext``/``lazy_gettext``/``N_`` (extraction puts those in the catalogue).
A shown string that is not marked is reported when it holds a word; markup (``[bold]``),
placeholders and punctuation alone are no language. Strings that reach the output through a
local variable (``said = "..."; console.print(said)``) or through a helper of the same module
that returns them are followed too.

Allowed unmarked, on purpose: the ``Error (Kind):`` prefix (a machine field that scripts grep,
docs/I18N.md), the names of metrics (FNIR, FPIR, DET, CMC), and command lines a person copies
into a shell as they are (``nextofkin …``, ``export …``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "src" / "nextofkin" / "cli"

TRANSLATORS = {"_", "gettext", "ngettext", "pgettext", "lazy_gettext", "N_"}
# How many leading arguments are the message (ngettext: singular and plural; pgettext: context
# and message); the catalogue keys an entry by its singular and context.
MESSAGE_ARGS = {"ngettext": 2, "pgettext": 2}
SHOWN_METHODS = {"print", "echo", "secho", "rule", "confirm", "prompt", "add_row", "add_column"}
SHOWN_METHODS |= {"add_task", "log"}
SHOWN_FUNCTIONS = {"Table", "TextColumn", "Text", "cells", "BadParameter", "echo", "confirm"}
SHOWN_KEYWORDS = {"help", "title", "description", "short_help", "epilog", "caption"}
# Keywords of shown calls that are presentation, not text.
QUIET_KEYWORDS = {"style", "overflow", "justify", "markup", "highlight", "soft_wrap", "end"}
QUIET_KEYWORDS |= {"sep", "param_hint", "no_wrap", "total", "completed", "show_lines", "console"}
QUIET_KEYWORDS |= {"disable", "transient", "header_style", "min_width", "max_width", "ratio"}
# Raised without a message a person reads.
SILENT_EXCEPTIONS = {"Exit", "Abort"}

MARKUP = re.compile(r"\[/?[a-z][a-z0-9 ._#-]*\]|\[/\]")
MACHINE_PREFIX = re.compile(r"Error \([A-Za-z]*\):")
TERMS = re.compile(r"\b(FNIR|FPIR|DET|CMC)\b")
SHELL_LINE = re.compile(r"^\s*(nextofkin\b|export\b|NEXTOFKIN_\w+=)")
URL = re.compile(r"\w+://\S*")
# Calls whose arguments become their result's text; any other call's arguments are data
# (a key, a path, a machine value) and its result is judged where it is made.
PASSTHROUGH = {"lit", "str", "escape", "Text", "cells", "repr"}
WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Found:
    """One string literal in a shown position."""

    text: str
    where: str
    marked: bool
    context: str | None = None


def has_language(text: str) -> bool:
    """Whether ``text`` holds a word once markup, placeholders and metric names are gone."""
    if SHELL_LINE.match(text):
        return False
    text = re.sub(r"%\(\w+\)[sdr]|\{[^}]*\}", "", text)
    text = URL.sub(" ", text)
    text = MARKUP.sub(" ", text)
    text = MACHINE_PREFIX.sub(" ", text)
    text = TERMS.sub(" ", text)
    return bool(WORD.search(text))


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is(target: ast.expr, name: str) -> bool:
    return isinstance(target, ast.Name) and target.id == name


class _Module:
    """One CLI module: its functions' local assignments and return values, to follow names."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.functions = {
            node.name: node
            for node in ast.walk(self.tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.found: list[Found] = []

    def where(self, node: ast.AST) -> str:
        return f"{self.path.name}:{getattr(node, 'lineno', 0)}"

    def literal(
        self, node: ast.Constant | ast.JoinedStr, *, marked: bool, context: str | None = None
    ) -> None:
        if isinstance(node, ast.Constant):
            text = str(node.value)
        else:
            text = "".join(
                str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values
            )
        self.found.append(Found(text, self.where(node), marked, context))

    def shown(self, node: ast.AST, scope: ast.AST | None, seen: set[int]) -> None:
        """Visit an expression whose text reaches a person."""
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.literal(node, marked=False)
        elif isinstance(node, ast.JoinedStr):
            self.literal(node, marked=False)
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    self.shown(value.value, scope, seen)
        elif isinstance(node, ast.Call):
            self.shown_call(node, scope, seen, entry=False)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return  # a path built from its parts
        elif isinstance(node, ast.Name):
            for value in self.assigned(scope, node.id):
                self.shown(value, scope, seen)
        elif isinstance(node, ast.Subscript | ast.Attribute | ast.Compare):
            return  # a key, an attribute name or a test: data, not text
        elif isinstance(node, ast.Dict):
            for value in node.values:
                self.shown(value, scope, seen)
        else:
            for child in ast.iter_child_nodes(node):
                self.shown(child, scope, seen)

    def shown_call(
        self, call: ast.Call, scope: ast.AST | None, seen: set[int], *, entry: bool = True
    ) -> None:
        """A call whose result, or (``entry``: a print, a raise) whose arguments, are shown."""
        name = _name(call.func)
        args: list[ast.expr] = list(call.args)
        text_in = entry or name in PASSTHROUGH or name in SHOWN_FUNCTIONS | SHOWN_METHODS
        if name in TRANSLATORS:
            taken = MESSAGE_ARGS.get(name, 1)
            message, context = args[0] if args else None, None
            if name == "pgettext" and len(args) > 1:
                context = args[0].value if isinstance(args[0], ast.Constant) else None
                message = args[1]
            if isinstance(message, ast.Constant | ast.JoinedStr):
                # An f-string is never extracted (docs/I18N.md): it counts as unmarked.
                marked = isinstance(message, ast.Constant)
                self.literal(message, marked=marked, context=context)
            args = args[taken:]
        elif isinstance(call.func, ast.Attribute) and call.func.attr in ("join", "format"):
            self.shown(call.func.value, scope, seen)
        elif isinstance(call.func, ast.Name) and call.func.id in self.functions:
            helper = self.functions[call.func.id]
            for ret in ast.walk(helper):
                if isinstance(ret, ast.Return) and ret.value is not None:
                    self.shown(ret.value, helper, seen)
            return
        elif not text_in:
            return
        for arg in args:
            self.shown(arg, scope, seen)
        for kw in call.keywords:
            if kw.arg not in QUIET_KEYWORDS:
                self.shown(kw.value, scope, seen)

    def assigned(self, scope: ast.AST | None, name: str) -> Iterator[ast.expr]:
        """Every value ``name`` is given in ``scope`` (a function; module level otherwise)."""
        for node in ast.walk(scope or self.tree):
            if isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    yield node.value
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                if _is(node.target, name) and node.value is not None:
                    yield node.value
            elif isinstance(node, ast.For) and _is(node.target, name):
                yield node.iter

    def scan(self) -> list[Found]:
        """Every shown or marked string literal of the module."""
        for scope, node in self._nodes():
            if isinstance(node, ast.Call):
                self._call(scope, node)
            elif (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and _name(node.exc.func) not in SILENT_EXCEPTIONS
            ):
                self.shown_call(node.exc, scope, set())
        return self.found

    def _call(self, scope: ast.AST | None, call: ast.Call) -> None:
        name = _name(call.func)
        if name in TRANSLATORS:
            self.shown(call, scope, set())
            return
        if (isinstance(call.func, ast.Attribute) and name in SHOWN_METHODS) or (
            isinstance(call.func, ast.Name) and name in SHOWN_FUNCTIONS
        ):
            self.shown(call, scope, set())
            return
        for kw in call.keywords:
            if kw.arg in SHOWN_KEYWORDS:
                self.shown(kw.value, scope, set())

    def _nodes(self) -> Iterator[tuple[ast.AST | None, ast.AST]]:
        """Each node with the innermost function around it (None at module level)."""

        def walk(node: ast.AST, scope: ast.AST | None) -> Iterator[tuple[ast.AST | None, ast.AST]]:
            for child in ast.iter_child_nodes(node):
                inner = (
                    child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
                )
                yield inner, child
                yield from walk(child, inner)

        return walk(self.tree, None)


def commands_without_help() -> list[str]:
    """``X.command(...)`` registrations without ``help=``: Typer would show the English
    docstring instead."""
    missing = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "command"
                and not any(kw.arg == "help" for kw in node.keywords)
            ):
                missing.append(f"{path.name}:{node.lineno}")
    return missing


def cli_strings() -> list[Found]:
    """Every string literal of the CLI that is marked, or shown with a word in it."""
    found: list[Found] = []
    for path in sorted(CLI.glob("*.py")):
        found += _Module(path).scan()
    unique = {(f.text, f.where, f.marked, f.context): f for f in found}
    return [f for f in unique.values() if f.marked or has_language(f.text)]
