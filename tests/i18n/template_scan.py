"""Find text a person reads in a Jinja template that does not go through the catalogue.

Text outside ``{% trans %}`` and ``_()``: the words between tags, the attributes people read
(``title``, ``aria-label``, ``placeholder``, ``alt``), and string literals with words in
expressions (``{{ badge("match", "strong match") }}``) unless they are arguments of ``_()``,
``gettext``, ``ngettext`` or ``pgettext``. Jinja's own lexer splits the template, so a string
inside a tag is never mistaken for page text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from jinja2 import Environment

from nextofkin.identify.meaning import Decision

TRANSLATING = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
READ_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "label", "data-confirm"}
WORDS = re.compile(r"[^\W\d_]{2,}")
# Words that are the same in every language: the product's name, technical names, and the
# names printed on keyboard keys.
UNTRANSLATED_WORDS = {"nextofkin", "HTTP", "FPIR", "API", "SHA", "PDF", "HTML", "JSON", "px"}
UNTRANSLATED_WORDS |= {"Ctrl", "Enter", "Esc"}
UNTRANSLATED_TEXTS = {"Message-ID", ".jpg", "sha256"}  # a mail header, a file type, a hash
DYNAMIC = "\x00"
# Machine values compared or passed to a label filter, never shown as they are.
MACHINE_STRINGS = {f'"{d.value}"' for d in Decision} | {f"'{d.value}'" for d in Decision}


@dataclass(frozen=True)
class Literal:
    """One piece of text outside the catalogue."""

    template: str
    line: int
    text: str


def _prose(text: str) -> bool:
    if text.strip() in UNTRANSLATED_TEXTS:
        return False
    words = [w for w in WORDS.findall(text) if w not in UNTRANSLATED_WORDS]
    return bool(words)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and DYNAMIC not in value and _prose(value):
                self.found.append((self.getpos()[0], f'{name}="{value}"'))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        for part in data.split(DYNAMIC):
            if not self._skip and _prose(part):
                self.found.append((self.getpos()[0], part.strip()))


def scan(path: Path, root: Path) -> list[Literal]:
    """The literal user-facing text of one template."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    source = path.read_text(encoding="utf-8")
    page: list[str] = []  # the template with everything Jinja makes replaced by DYNAMIC
    found: list[Literal] = []
    name = str(path.relative_to(root))
    in_trans = False
    previous: list[str] = []  # the last tokens of the current tag
    translating_depth: list[int] = []
    depth = 0
    for line, kind, value in env.lex(source):
        if kind == "whitespace":
            continue
        if kind == "data":
            page.append(DYNAMIC if in_trans else value)
            continue
        if kind in ("block_begin", "variable_begin", "comment_begin"):
            page.append(DYNAMIC)
            previous = []
        if kind == "name" and previous[-1:] == ["block_begin"] and value in ("trans", "pluralize"):
            in_trans = True
        if kind == "name" and previous[-1:] == ["block_begin"] and value == "endtrans":
            in_trans = False
        if kind == "operator" and value == "(":
            depth += 1
            if previous and previous[-1] in TRANSLATING:
                translating_depth.append(depth)
        elif kind == "operator" and value == ")":
            if translating_depth and translating_depth[-1] == depth:
                translating_depth.pop()
            depth -= 1
        if (
            kind == "string"
            and not translating_depth
            and " " in value
            and _prose(value)
            and value not in MACHINE_STRINGS
        ):
            found.append(Literal(name, line, value))
        previous.append(value if kind in ("name", "operator", "string") else kind)
    parser = _Page()
    parser.feed("".join(page))
    parser.close()
    # The HTML parser counts lines of the rebuilt page, where each Jinja tag is one character:
    # close enough to find the text, which is quoted in full.
    found += [Literal(name, line, text) for line, text in parser.found]
    return found
