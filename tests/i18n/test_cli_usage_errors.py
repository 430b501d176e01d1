"""Typer's own usage errors (a missing argument, an unknown option or command, a bad value) in
the command's language: Typer's bundled click writes them as English f-strings, and
``nextofkin.cli.click_words`` rebuilds each from the catalogue."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from nextofkin import i18n
from nextofkin.cli import build_app
from nextofkin.cli.click_words import translate


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """A command sets the language of its process; give the next test English back."""
    yield
    i18n.set_language(None)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), env={"COLUMNS": "200"})
    text = re.sub(r"[│╭╮╰╯─]", " ", result.output)
    return result.exit_code, " ".join(text.split())


# (command line, what English says, what Ukrainian says)
CASES = [
    (["case", "show"], "Missing argument 'NUMBER'.", "Бракує аргументу 'NUMBER'."),
    (["case", "show", "--bogus", "x"], "No such option: --bogus", "Немає параметра: --bogus"),
    (["case", "bogus"], "No such command 'bogus'.", "Немає команди 'bogus'."),
    (["case", "show", "a", "b"], "Unexpected extra arguments (b)", "Зайві аргументи (b)"),
    (
        ["identify", "--top", "abc", "x.jpg"],
        "Invalid value for '--top'",
        "Неприпустиме значення '--top'",
    ),
]


@pytest.mark.parametrize(("args", "english", "ukrainian"), CASES)
def test_usage_errors_in_the_language_asked_for(
    args: list[str], english: str, ukrainian: str
) -> None:
    code, in_english = run(*args)
    assert code == 2 and english.lower() in in_english.lower(), in_english
    code, in_ukrainian = run("--language", "uk", *args)
    assert code == 2 and ukrainian.lower() in in_ukrainian.lower(), in_ukrainian
    assert english.lower() not in in_ukrainian.lower()


def test_a_nested_reason_is_translated_and_an_unknown_sentence_is_left_as_it_is() -> None:
    with i18n.use_language("uk"):
        said = translate("Invalid value for 'ROOT': path '/x' does not exist.")
        assert said == "Неприпустиме значення 'ROOT': Шлях '/x' не існує."
        assert translate("Something typer never says.") == "Something typer never says."
        # A value a person wrote is never taken for a word to translate.
        assert "file" in translate("Missing argument 'file'.")
