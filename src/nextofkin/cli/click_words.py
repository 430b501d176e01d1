"""Typer's usage errors (a missing argument, an unknown option, a bad value, a path that does not
exist) in the reader's language.

Typer carries its own copy of click (``typer._click``) whose messages are English f-strings, so
there is no catalogue to hook. Typer draws an error from ``format_message()``: each usage-error
class's ``format_message`` is wrapped to recognise the English sentence it made (the patterns
below, one per sentence typer writes) and rebuild it from our catalogue with the same values.
A sentence no pattern knows is shown as typer wrote it. Installed once, when the CLI sets its
language (:func:`nextofkin.cli.common.translate_typer_words`); the language is read when the
error is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from typer import exceptions as typer_errors
from typer._click import exceptions as click_errors

from nextofkin import i18n


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark ``message`` for extraction; it is translated when an error is drawn."""
    return message


# Typer's sentences (typer/_click/exceptions.py, parser.py, core.py; typer/_param_types.py,
# _coercion.py), each with the catalogue message that says it. Nested sentences (the reason
# inside "Invalid value for …: <reason>") are translated by the same table.
_SENTENCES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), message)
    for pattern, message in (
        (r"Missing argument (?P<what>.+)\.", N_("Missing argument %(what)s.")),
        (r"Missing option (?P<what>.+)\.", N_("Missing option %(what)s.")),
        (r"Missing parameter:? (?P<what>.+?)\.?", N_("Missing parameter %(what)s.")),
        (r"Missing command\.", N_("Missing command.")),
        (
            r"No such option: (?P<what>\S+) \(Possible options: (?P<options>.+)\)",
            N_("No such option: %(what)s (possible options: %(options)s)"),
        ),
        (r"No such option: (?P<what>\S+)", N_("No such option: %(what)s")),
        (
            r"No such command (?P<what>.+?)\. Did you mean (?P<options>.+)\?",
            N_("No such command %(what)s. Did you mean %(options)s?"),
        ),
        (r"No such command (?P<what>.+)\.", N_("No such command %(what)s.")),
        (
            r"Got unexpected extra argument\(s\) \((?P<what>.*)\)",
            N_("Unexpected extra arguments (%(what)s)"),
        ),
        (
            r"Option (?P<what>'.+') requires an argument\.",
            N_("Option %(what)s requires a value."),
        ),
        (
            r"Option (?P<what>'.+') requires (?P<count>\d+) arguments\.",
            N_("Option %(what)s requires %(count)s values."),
        ),
        (
            r"(?P<kind>file|dir|path) (?P<what>'.+') does not exist\.",
            N_("%(kind)s %(what)s does not exist."),
        ),
        (r"(?P<kind>file|dir|path) (?P<what>'.+') is a file\.", N_("%(kind)s %(what)s is a file.")),
        (
            r"(?P<kind>file|dir|path) (?P<what>'.+') is a directory\.",
            N_("%(kind)s %(what)s is a directory."),
        ),
        (
            r"(?P<kind>file|dir|path) (?P<what>'.+') is not readable\.",
            N_("%(kind)s %(what)s cannot be read."),
        ),
        (
            r"(?P<kind>file|dir|path) (?P<what>'.+') is not writable\.",
            N_("%(kind)s %(what)s cannot be written."),
        ),
        (
            r"Value (?P<what>.+) is not a valid (?P<kind>\w+)\.",
            N_("%(what)s is not a valid %(kind)s."),
        ),
        (
            r"(?P<what>.+) is not one of (?P<options>.+)\.",
            N_("%(what)s is not one of %(options)s."),
        ),
        (
            r"Invalid value for (?P<what>.+?): (?P<reason>.*)",
            N_("Invalid value for %(what)s: %(reason)s"),
        ),
        (r"Invalid value: (?P<reason>.*)", N_("Invalid value: %(reason)s")),
        (r"Input should be a valid (?P<kind>\w+)(?:,.*)?", N_("Expected: %(kind)s.")),
    )
)
# The words typer puts into its sentences, translated as words.
_WORDS = {
    "file": N_("File"),
    "dir": N_("Folder"),
    "path": N_("Path"),
    "integer": N_("integer"),
    "float": N_("number"),
    "int": N_("integer"),
    "boolean": N_("yes or no"),
    "number": N_("number"),
    "bool": N_("yes or no"),
}
_NESTED = frozenset({"reason"})


def translate(sentence: str) -> str:
    """``sentence`` (as typer wrote it) in the current language; unknown sentences unchanged."""
    for pattern, message in _SENTENCES:
        match = pattern.fullmatch(sentence)
        if match is None:
            continue
        values = {
            key: _value(key, value) for key, value in match.groupdict().items() if value is not None
        }
        return i18n.gettext(message, **values)
    return sentence


def _value(key: str, value: str) -> str:
    if key in _NESTED:
        return translate(value)
    if key == "kind" and value in _WORDS:
        return i18n.gettext(_WORDS[value])
    return value


def _wrapped(format_message: Callable[[Any], str]) -> Callable[[Any], str]:
    def in_language(self: Any) -> str:
        return translate(format_message(self))

    in_language._nextofkin = True  # type: ignore[attr-defined]
    return in_language


def install() -> None:
    """Wrap every usage-error class's own ``format_message`` (idempotent)."""
    for cls in (
        typer_errors.TyperException,
        click_errors.ClickException,
        click_errors.UsageError,
        click_errors.BadParameter,
        click_errors.MissingParameter,
        click_errors.NoSuchOption,
        click_errors.BadOptionUsage,
        click_errors.BadArgumentUsage,
    ):
        own = cls.__dict__.get("format_message")
        if own is None or getattr(own, "_nextofkin", False):
            continue
        cls.format_message = _wrapped(own)  # type: ignore[method-assign,assignment]
