"""Every domain error's message goes through the catalogue, and Ukrainian translates all of them.

The count printed here ("domain messages: N, translated to uk: M") is the figure docs/I18N.md
reports: run ``pytest -s tests/i18n/test_domain_messages.py`` to see it.
"""

from __future__ import annotations

import pytest
from catalogue_scan import catalogue
from domain_scan import error_classes, scan, scan_source

from nextofkin import errors, i18n


def test_every_domain_message_is_marked_for_translation() -> None:
    """A ``raise SomeError("...")`` or ``SomeError(f"...")`` anywhere in src/nextofkin stays
    English in every language: wrap the message in ``_()`` with named placeholders."""
    literal = [f"{s.where} {s.error}" for s in scan() if s.kind == "literal"]
    assert literal == []


def test_domain_messages_are_translated_to_ukrainian(capsys: pytest.CaptureFixture[str]) -> None:
    """Count the distinct messages and their Ukrainian translations (non-empty, not fuzzy)."""
    sites = [s for s in scan() if s.kind == "wrapped"]
    msgids = {msgid for s in sites for msgid in s.msgids}
    uk = catalogue("uk")
    translated = set()
    for msgid in msgids:
        entry = uk.get(msgid)
        if entry is None:  # a plural entry is keyed by its singular
            entry = next((m for m in uk if isinstance(m.id, tuple) and m.id[0] == msgid), None)
        forms = () if entry is None else entry.string
        forms = forms if isinstance(forms, tuple) else (forms,)
        if entry is not None and not entry.fuzzy and forms and all(forms):
            translated.add(msgid)
    with capsys.disabled():
        print(
            f"\ndomain messages: {len(msgids)}, translated to uk: {len(translated)}"
            f" (made at {len(sites)} raise sites and per-item records)"
        )
    assert len(sites) > 250  # the scan sees the sources (an empty scan would pass vacuously)
    assert sorted(msgids - translated) == []


def test_the_scan_finds_every_form_of_an_unwrapped_message() -> None:
    """The checker itself: each way of writing a message in place is caught, each wrapped one
    passes, and an error class declared in any module (deriving from one of the tree) counts."""
    source = """
class LocalError(ManifestError):
    pass

def f(x):
    raise InputError("plain")
    raise errors.NotFound(f"no {x}")
    raise LocalError("a " + str(x))
    raise PolicyViolation("case {}".format(x))
    raise CaseStateError("one" if x else "two")
    raise ConfigError(message=f"{x} missing")
    raise InputError(_("case %(n)s", n=x))
    raise NotFound(gettext("a") if x else _("b"))
    raise NoFaceFound(ngettext("%(num)d try", "%(num)d tries", x), tried=[])
    raise InputError(x.problem)
    raise ValueError("not ours")
    problems.append(ItemProblem(item, f"no {x}"))
    problems.append(ItemProblem(item, _("no %(x)s", x=x)))
"""
    import ast

    classes = error_classes({"errors": ast.parse(_errors_source()), "m": ast.parse(source)})
    assert {"LocalError", "ManifestError", "NoFaceFound"} <= classes
    kinds = [s.kind for s in scan_source(source, "m.py", classes)]
    assert kinds == ["literal"] * 6 + ["wrapped"] * 3 + ["built", "literal", "wrapped"]


def _errors_source() -> str:
    from pathlib import Path

    return Path(errors.__file__).read_text(encoding="utf-8")


def test_a_domain_error_reads_in_the_current_language() -> None:
    """End to end through a real raise site: the same call, English by default, Ukrainian when
    the context says so, and the English machine kind (the class) unchanged."""
    from nextofkin.gallery.accounts import parse_account_ref

    with pytest.raises(errors.InputError) as english:
        parse_account_ref("")
    with i18n.use_language("uk"), pytest.raises(errors.InputError) as ukrainian:
        parse_account_ref("")
    assert str(english.value).startswith("name an account")
    assert str(ukrainian.value).startswith("назвіть обліковий запис")
    assert type(english.value) is type(ukrainian.value)
