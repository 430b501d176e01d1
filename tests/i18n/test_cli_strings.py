"""Every CLI string a person reads goes through the catalogue, and Ukrainian translates it all.

The scan (``cli_scan.py``) reads ``src/nextofkin/cli`` with ``ast``; the counts it prints are the
issue's measure (issue 18: 100% of the CLI's strings in Ukrainian).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Message
from catalogue_scan import catalogue
from cli_scan import _Module, cli_strings, commands_without_help, has_language


def _translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(forms)


def test_every_cli_string_is_marked_and_in_ukrainian(capsys: pytest.CaptureFixture[str]) -> None:
    found = cli_strings()
    unmarked = sorted({f"{f.where}: {f.text!r}" for f in found if not f.marked})
    marked = {(f.text, f.context) for f in found if f.marked}
    uk = catalogue("uk")
    missing = sorted(m for m in marked if not _translated(uk.get(*m)))
    total = len(marked) + len({f.text for f in found if not f.marked})
    summary = f"CLI strings: {total}, translated to uk: {len(marked) - len(missing)}"
    with capsys.disabled():
        print(f"\n{summary}")
    assert len(marked) > 300  # the scan sees the CLI (an empty scan would pass vacuously)
    assert unmarked == [], f"{summary}; not marked for translation: {unmarked}"
    assert missing == [], f"{summary}; run scripts/i18n.sh extract and translate: {missing}"


def test_every_command_registration_names_its_help() -> None:
    """Typer shows a command's docstring when ``help=`` is not given: English in every
    language, since a docstring cannot be marked."""
    assert commands_without_help() == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("[bold]{}[/]", False),
        ("[bold red]Error (InputError):[/] {}", False),
        ("FNIR@{}", False),
        ("  nextofkin kin vk/{}", False),
        ("[bold]http://{}:{}/[/]", False),
        ("{} ({}): %(count)s", False),
        ("no alerts", True),
        ("[yellow]note:[/] {}", True),
        ("сторінка", True),
    ],
)
def test_what_counts_as_language(text: str, language: bool) -> None:
    assert has_language(text) is language


def test_the_scan_finds_what_reaches_a_person_unmarked(tmp_path: Path) -> None:
    """Printed literals, table headers, help, raised messages, and text that reaches the output
    through a local variable, a loop over headers or a helper's return value."""
    source = tmp_path / "sample.py"
    source.write_text(
        "def helper(ok):\n"
        "    return _('fine') if ok else 'helper text'\n"
        "def command(x):\n"
        "    console.print('printed text')\n"
        "    said = 'variable text' if x else _('marked text')\n"
        "    console.print(f'[bold]{said}[/]')\n"
        "    for column in ('header one', 'header two'):\n"
        "        table.add_column(column)\n"
        "    console.print(helper(x))\n"
        "    typer.Option(False, '--json', help='help text')\n"
        "    raise InputError(f'raised {x} text')\n"
        "def quiet(ws, x):\n"
        "    console.print(format_number(x, 2), style='bold green')\n"
        "    console.print(write_report(ws, 'pdf'), lit(ws / 'demo-probe'))\n"
        "    console.print(data.get('samples'), _('%(n)s photo', n=x))\n"
        "    raise typer.Exit(1)\n",
        encoding="utf-8",
    )
    found = [f for f in _Module(source).scan() if f.marked or has_language(f.text)]
    unmarked = sorted({f.text for f in found if not f.marked})
    assert unmarked == [
        "header one",
        "header two",
        "help text",
        "helper text",
        "printed text",
        "raised {} text",
        "variable text",
    ]
    assert sorted({f.text for f in found if f.marked}) == ["%(n)s photo", "fine", "marked text"]
