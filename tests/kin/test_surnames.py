"""Surname stems across genders, scripts and transliterations; city spellings; skeleton keys."""

from __future__ import annotations

import pytest

from nextofkin.kin.surnames import city_key, handle_surname_keys, surname_keys
from nextofkin.kin.translit import skeleton, transliterate


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ivan Ivanov", "Olena Ivanova"),
        ("Іван Іванов", "Olena Ivanova"),
        ("Сергей Кузнецов", "Iryna Kuznietsova"),
        ("Anatolii Kovalskyi", "Ковальская Мария"),
        ("Петро Шевченко", "Olena Shevchenko"),
        ("Ilyin Petr", "Анна Ільїна"),
        ("Левицкий Юрий", "Oksana Levytska"),
        ("Taras Tkachuk", "Софія Ткачук (Ковальська)"),
        ("Anatolii Kovalskyi", "Софія Ткачук (Ковальська)"),
    ],
)
def test_relatives_share_a_surname_key(a: str, b: str) -> None:
    assert surname_keys(a) & surname_keys(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Ivan Ivanov", "Ivan Petrov"), ("Olena Shevchenko", "Olena Shevchuk")],
)
def test_first_names_do_not_count_as_surnames(a: str, b: str) -> None:
    assert not surname_keys(a) & surname_keys(b)


@pytest.mark.parametrize("name", ["Lena S.", "olenka_95", "", None, "Саша"])
def test_nicknames_have_no_surname(name: str | None) -> None:
    assert surname_keys(name) == frozenset()


@pytest.mark.parametrize(
    "spellings",
    [
        ("Kyiv", "Kiev", "Київ", "Киев"),
        ("Kharkiv", "Kharkov", "Харків", "Харьков"),
        ("Odesa", "Odessa", "Одеса", "Одесса"),
        ("Lviv", "Lvov", "Львів", "Львов"),
        ("Moscow", "Москва"),
    ],
)
def test_city_spellings_share_a_key(spellings: tuple[str, ...]) -> None:
    assert len({city_key(s) for s in spellings}) == 1


def test_different_cities_differ() -> None:
    assert city_key("Kyiv") != city_key("Kharkiv")
    assert city_key(None) is None


def test_transliteration_schemes() -> None:
    assert transliterate("Юлія Шевченко", "uk") == "Yuliia Shevchenko"
    assert transliterate("Юлия", "ru") == "Yuliya"
    assert transliterate("Харьков", "loose") == "Har'kov".replace("'", "")
    assert skeleton("Юлія") == skeleton("Yulia") == skeleton("Iuliia")


def test_handles_reveal_known_surnames_only() -> None:
    known = {"bondarenko", "kovalenko", "ivanov"}
    assert handle_surname_keys("abondarenko78", known) == {"bondarenko"}
    assert handle_surname_keys("olena.kovalenko", known) == {"kovalenko"}
    assert handle_surname_keys("yvanova.olena", known) == {"ivanov"}
    assert handle_surname_keys("id123456789", known) == frozenset()
    assert handle_surname_keys("ivan.petrov", known) == frozenset()  # not a known surname
