"""Every marked string is in the catalogues, and Ukrainian translates all of them."""

from __future__ import annotations

from catalogue_scan import catalogue, marked_strings

from nextofkin.i18n import LANGUAGES


def _missing(language: str) -> list[str]:
    cat = catalogue(language)
    return sorted(
        {f"{m.where}: {m.msgid!r}" for m in marked_strings() if cat.get(m.msgid, m.context) is None}
    )


def test_sources_mark_strings() -> None:
    """The scan sees the sources (an empty scan would make every test below pass vacuously)."""
    found = marked_strings()
    assert len(found) > 20
    assert any(".html:" in m.where for m in found)
    assert any(".py:" in m.where for m in found)


def test_every_marked_string_is_in_every_catalogue() -> None:
    """A string marked in code but never extracted (scripts/i18n.sh extract) is listed here."""
    for language in LANGUAGES:
        assert _missing(language) == [], f"{language}: run scripts/i18n.sh extract"


def test_ukrainian_is_complete() -> None:
    """Every Ukrainian entry has a translation (every plural form), none of them fuzzy."""
    cat = catalogue("uk")
    assert cat.num_plurals == 3
    untranslated = []
    for message in cat:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(forms):
            untranslated.append(message.id)
    total = sum(1 for m in cat if m.id)
    assert untranslated == [], f"{len(untranslated)} of {total} Ukrainian strings untranslated"


def test_translations_keep_their_placeholders() -> None:
    """A translation that drops or renames ``%(name)s`` would fail only when shown."""
    import re

    placeholder = re.compile(r"%\((\w+)\)[sd]")
    for language in ("uk", "ru"):
        for message in catalogue(language):
            if not message.id or not message.string:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            wanted = set(placeholder.findall(ids[-1]))
            for text in strings:
                if text:
                    assert set(placeholder.findall(text)) <= wanted | {"num"}, (language, ids[0])
                    assert set(placeholder.findall(text)) >= wanted - {"num"}, (language, ids[0])


def test_no_translation_inside_an_f_string() -> None:
    """Extraction does not look inside f-strings (Python 3.11): ``f"{_('x')}"`` would never
    reach the catalogue, so it would stay English in every language."""
    import re
    from pathlib import Path

    hidden = re.compile(r"""f["'][^"'\n]*\{(_|gettext|ngettext|pgettext)\(""")
    src = Path(__file__).resolve().parents[2] / "src" / "nextofkin"
    found = [
        f"{path.relative_to(src)}:{number}"
        for path in src.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if hidden.search(line)
    ]
    assert found == []
