"""``nextofkin --language uk CMD --help`` shows no English sentence of ours, for every command.

The app is built in English and in Ukrainian (as ``main()`` does, the language chosen first) and
every command's help, its summary and each option's help are compared: a text that reads the same
in both is one that never went through the catalogue. Typer's and click's words on the page
("Options", "Usage:", the --help line) are checked on the rendered pages below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from nextofkin import i18n
from nextofkin.cli import build_app

WORD = re.compile(r"[^\W\d_]{2,}")
# Help texts that are the same in both languages because they hold no sentence.
NO_SENTENCE = re.compile(r"^[\s\W\d]*$")


def _subcommands(command: Any) -> list[tuple[str, Any]]:
    """A group's commands by name (Typer 0.29 carries its own click: no ``click.Group``)."""
    return sorted(getattr(command, "commands", {}).items())


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(where, text) for every help text a person can ask for, in the tree under ``command``."""
    where = " ".join(path) or "nextofkin"
    for kind, text in (("help", command.help), ("summary", command.short_help)):
        if text:
            yield f"{where} ({kind})", str(text)
    for param in command.params:
        shown = getattr(param, "help", None)
        if shown and param.name != "help":
            yield f"{where} {param.opts[0]}", str(shown)
    for name, sub in _subcommands(command):
        yield from _walk(sub, (*path, name))


def _help_texts(language: str) -> dict[str, str]:
    with i18n.use_language(language):
        command = typer.main.get_command(build_app())
        return dict(_walk(command))


def test_every_help_text_reads_in_ukrainian() -> None:
    english, ukrainian = _help_texts("en"), _help_texts("uk")
    assert set(english) == set(ukrainian)
    assert len(english) > 200  # every command, sub-command and option: the walk sees the tree
    untranslated = sorted(
        f"{where}: {text!r}"
        for where, text in english.items()
        if WORD.search(text) and ukrainian[where] == text
    )
    assert untranslated == [], f"{len(untranslated)} help texts still English"


def test_every_command_help_page_shows_in_ukrainian() -> None:
    """What a person sees: ``--language uk CMD --help`` of each command, as main() runs it; no
    English help text of ours (its opening words) is on any page."""
    english = [t for t in _help_texts("en").values() if WORD.search(t)]
    openings = {" ".join(t.split()[:4]) for t in english if len(t.split()) >= 3}
    with i18n.use_language("uk"):
        app = build_app()
        paths = list(_paths(typer.main.get_command(app)))
        pages = {
            path: CliRunner()
            .invoke(app, ["--language", "uk", *path, "--help"], terminal_width=300)
            .output
            for path in paths
        }
    assert len(pages) > 40
    for path, shown in pages.items():
        assert "Використання:" in shown, (path, shown)
        # Typer's and click's own words too: panel titles, the usage line, the --help line.
        assert "─ Options ─" not in shown and "─ Параметри ─" in shown, (path, shown)
        assert "Usage:" not in shown and "Show this message" not in shown, (path, shown)
        flat = " ".join(shown.split())
        assert [o for o in openings if o in flat] == [], (path, shown)


def _paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The command line of every command and sub-command under ``command``."""
    if path:
        yield path
    for name, sub in _subcommands(command):
        yield from _paths(sub, (*path, name))
