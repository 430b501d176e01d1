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


@pytest.mark.parametrize(
    ("language", "counts"),
    [
        (
            "uk",
            {
                1: "1 обліковий запис",
                2: "2 облікові записи",
                4: "4 облікові записи",
                5: "5 облікових записів",
                11: "11 облікових записів",
                21: "21 обліковий запис",
                22: "22 облікові записи",
                112: "112 облікових записів",
            },
        ),
        ("en", {1: "1 account", 2: "2 accounts", 5: "5 accounts", 21: "21 accounts"}),
    ],
)
def test_plural_forms(language: str, counts: dict[int, str]) -> None:
    """Ukrainian has three forms chosen by the last digits, English two."""
    with i18n.use_language(language):
        for n, expected in counts.items():
            shown = i18n.ngettext("%(count)s account", "%(count)s accounts", n, count=n)
            assert shown == expected
            photos = i18n.ngettext("%(num)d photo", "%(num)d photos", n)
            assert photos == (
                f"{n} фото" if language == "uk" else expected.replace("account", "photo")
            )


def test_russian_plural_forms() -> None:
    with i18n.use_language("ru"):
        shown = [
            i18n.ngettext(
                "gallery of %(count)s account", "gallery of %(count)s accounts", n, count=n
            )
            for n in (1, 3, 5, 21)
        ]
    assert shown == [
        "галерея: 1 учётная запись",
        "галерея: 3 учётные записи",
        "галерея: 5 учётных записей",
        "галерея: 21 учётная запись",
    ]
