"""The translation layer: language choice, plural forms, locale formats, the .po fallback."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nextofkin import i18n


@pytest.mark.parametrize(
    ("header", "preferred", "expected"),
    [
        ("uk-UA,uk;q=0.9,en;q=0.8", None, "uk"),
        ("de-DE,ru;q=0.7,en;q=0.5", None, "ru"),
        ("en;q=0.3,uk;q=0.9", None, "uk"),
        ("fr, de", None, "en"),  # nothing we have: the default
        (None, None, "en"),
        ("uk;q=0, en", None, "en"),  # q=0 means "not this one"
        ("uk-UA,uk", "en", "en"),  # the user's own setting wins over the browser
        ("en", "uk", "uk"),
        ("en", "xx", "en"),  # an unknown setting is ignored
    ],
)
def test_negotiate(header: str | None, preferred: str | None, expected: str) -> None:
    assert i18n.negotiate(header, preferred) == expected


def test_use_language_is_scoped() -> None:
    before = i18n.current_language()
    with i18n.use_language("uk_UA"):
        assert i18n.current_language() == "uk"
        assert i18n.gettext("every search") == "щоразу"
        with i18n.use_language("ru"):
            assert i18n.gettext("every search") == "каждый раз"
        assert i18n.current_language() == "uk"
    assert i18n.current_language() == before
    with i18n.use_language("en"):
        assert i18n.gettext("every search") == "every search"


def test_placeholders_are_filled_after_translation() -> None:
    with i18n.use_language("uk"):
        assert i18n.gettext("1 in %(count)s", count="40 000") == "1 з 40 000"


def test_numbers_and_dates_follow_the_locale() -> None:
    when = datetime(2026, 12, 2, 9, 40, tzinfo=UTC)
    with i18n.use_language("en"):
        assert i18n.format_number(40000) == "40,000"
        assert i18n.format_number(0.8126, 3) == "0.813"
        assert i18n.format_datetime(when) == "Dec 2, 2026 09:40"
    with i18n.use_language("uk"):
        assert i18n.format_number(40000).replace("\xa0", " ") == "40 000"
        assert i18n.format_number(0.5, 3) == "0,500"
        shown = i18n.format_datetime(when)
        assert shown.startswith("2 груд. 2026") and shown.endswith("09:40")
    assert i18n.format_datetime(None) == "—"


def test_a_missing_mo_is_compiled_from_the_po(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout that never ran the set-up (no .mo) still speaks Ukrainian."""
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    assert not list(copy.rglob("*.mo"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", copy)
    monkeypatch.setattr(i18n, "_loaded", {})
    with i18n.use_language("uk"):
        assert i18n.gettext("every search") == "щоразу"
    assert not list(copy.rglob("*.mo"))  # compiled in memory: the package dir is not written


def test_unknown_languages_fall_back_to_english() -> None:
    assert i18n.normalise_language("de") is None
    with i18n.use_language("de"):
        assert i18n.current_language() == "en"


def test_every_enum_value_has_a_label() -> None:
    """A state, role or decision added without a label would be shown in English only."""
    from nextofkin.cases.labels import MESSAGE_STATE_NAMES, STATE_NAMES, VERDICT_NAMES
    from nextofkin.cases.review import Verdict
    from nextofkin.cases.service import CaseState
    from nextofkin.gallery.labels import FACE_ROLE_NAMES
    from nextofkin.gallery.records import FaceRole
    from nextofkin.identify.meaning import DECISION_EXPLANATIONS, DECISION_NAMES, Decision
    from nextofkin.notify.model import OutboxState
    from nextofkin.users.labels import ROLE_NAMES
    from nextofkin.users.service import Role

    pairs = [
        (STATE_NAMES, CaseState),
        (VERDICT_NAMES, Verdict),
        (MESSAGE_STATE_NAMES, OutboxState),
        (FACE_ROLE_NAMES, FaceRole),
        (DECISION_NAMES, Decision),
        (DECISION_EXPLANATIONS, Decision),
        (ROLE_NAMES, Role),
    ]
    for table, enum in pairs:
        assert set(table) == {member.value for member in enum}, enum.__name__
