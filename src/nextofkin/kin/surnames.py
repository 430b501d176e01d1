"""Surnames and cities: East-Slavic morphology and spelling variants reduced to comparable keys.

Relatives share a surname *stem*, not a string: Ivanov / Ivanova / Іванова / Ivanova,
Kovalsky / Kovalskaya / Ковальська, while -enko, -chuk, -uk names do not change with gender.
Married women often show their maiden name in parentheses ("Софія Ткачук (Ковальська)"), which
links them to their parents. A display name can also be a nickname with no surname at all.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from nextofkin.kin.translit import skeleton

# Common East-Slavic first names and diminutives (skeleton keys): tokens that are never taken
# for a surname. The engine's own list, independent of the sample generator's.
_FIRST_NAMES = frozenset(
    skeleton(name)
    for name in """
    Oleksandr Aleksandr Alexander Alexandr Sasha Sashko Andrii Andriy Andrei Andrey Andriiko
    Andrusha Serhii Serhiy Sergei Sergey Sergii Serezha Dmytro Dmitrii Dmitry Dmitriy Dima Dimka
    Mykola Nikolai Nikolay Kolia Kolya Ivan Vania Vanya Ivasyk Volodymyr Vladimir Vova Volodia
    Oleh Oleg Olezhko Olezhka Yurii Yuriy Yuri Yura Yurko Vasyl Vasilii Vasiliy Vasily Vasia Vasya
    Petro Piotr Pyotr Petr Petia Petya Petryk Mykhailo Mikhail Misha Mykhas Viktor Victor Vitia
    Vitya Taras Tarasyk Bohdan Bogdan Bodia Maksym Maksim Maxim Maks Max Artem Artiom Artyom Tema
    Tioma Denys Denis Denysko Pavlo Pavel Pavlik Pasha Ihor Igor Ihorko Igorek Roman Romko Roma
    Yevhen Evgenii Evgeniy Evgeny Yevgeny Zhenia Zhenya Anatolii Anatoliy Anatoly Tolia Tolya
    Stepan Stiopa Stepa Vitalii Vitaliy Vitaly Vitalik Yaroslav Yarko Slava Olena Elena Yelena
    Olenka Lena Iryna Irina Ira Nataliia Natalia Natalya Natalka Natasha Tetiana Tatiana Tatyana
    Tania Tanya Svitlana Svetlana Svitlanka Sveta Oksana Ksenia Ksenya Ksiusha Ksyusha Yuliia
    Yulia Yuliya Iuliia Julia Yulya Yulia Kateryna Ekaterina Yekaterina Katerina Katrusia Katia
    Katya Mariia Maria Mariya Marichka Masha Anna Hanna Hannusia Ania Anya Olha Olga Olia Olya
    Halyna Galina Halia Galya Liudmyla Liudmila Lyudmila Liuda Lyuda Liusia Lyusya Viktoriia
    Viktoria Victoria Vika Dariia Daria Darya Darynka Dasha Sofiia Sofia Sofiya Sophia Sofiika
    Sonia Sonya Anastasiia Anastasia Anastasiya Nastia Nastya Khrystyna Kristina Christina
    Khrystia Valentyna Valentina Valia Valya Larysa Larisa Lara Nadiia Nadia Nadezhda Nadya
    """.split()  # noqa: SIM905 - a long word list reads better as text
)

_TOKEN = re.compile(r"[^\W\d_][^\W\d_’'ʼ-]*(?:[’'ʼ-][^\W\d_]+)*", re.UNICODE)


def _unisex(key: str) -> str:
    """The masculine-equivalent key of a surname key (feminine endings reduced)."""
    for fem, masc in (("ova", "ov"), ("eva", "ev"), ("ina", "in"), ("ska", "ski"),
                      ("cka", "cki"), ("zka", "zki")):  # fmt: skip
        if key.endswith(fem) and len(key) > len(fem) + 1:
            return key[: -len(fem)] + masc
    return key


def surname_keys(display_name: str | None) -> frozenset[str]:
    """Gender-neutral keys of the surname(s) in a display name (maiden names included).

    Tokens that are first names, initials ("S.") or too short are not surnames; a nickname
    such as "lena_95" has none. Keys compare equal across scripts, transliterations and the
    gendered forms of one surname.
    """
    if not display_name:
        return frozenset()
    keys = set()
    for match in _TOKEN.finditer(display_name):
        token = match.group(0)
        end = match.end()
        if end < len(display_name) and display_name[end] == ".":
            continue  # an initial
        key = skeleton(token)
        if len(key) < 3 or key in _FIRST_NAMES:
            continue
        keys.add(_unisex(key))
    return frozenset(keys)


def handle_surname_keys(handle: str | None, known: Collection[str]) -> frozenset[str]:
    """Surname keys hidden in an account handle or URL ("abondarenko78", "olena.kovalenko").

    Handles are not names: only keys already seen in the gallery's display names count, and a
    leading initial is allowed ("abondarenko" is "a" + "bondarenko").
    """
    if not handle:
        return frozenset()
    keys = set()
    for token in re.split(r"[^a-zA-Z]+", handle):
        key = skeleton(token)
        if len(key) < 4 or key in _FIRST_NAMES:
            continue
        for candidate in (key, key[1:]):
            unisex = _unisex(candidate)
            if len(unisex) >= 4 and unisex in known:
                keys.add(unisex)
                break
    return frozenset(keys)


# Exonyms and old spellings of cities, as skeleton keys, to one key per city.
_CITY_ALIASES = {
    "kiev": "kiv", "kev": "kiv", "kiiv": "kiv", "harkov": "harkiv", "dnepr": "dnipro",
    "dnipropetrovsk": "dnipro", "dnepropetrovsk": "dnipro", "lvov": "lviv", "lwow": "lviv",
    "zaporoze": "zaporiza", "zaporoza": "zaporiza", "vinica": "vinica", "cernihov": "cernihiv",
    "nikolaev": "mikolaiv", "mikolaev": "mikolaiv", "moscov": "moskva", "moskau": "moskva",
    "varsav": "varsava", "varszava": "varsava", "varsava": "varsava", "minsk": "minsk",
}  # fmt: skip


def city_key(city: str | None) -> str | None:
    """A key equal for spellings of one city ("Kharkiv", "Kharkov", "Харків", "Харьков")."""
    if not city:
        return None
    first = re.split(r"[,(/]", city, maxsplit=1)[0]
    key = skeleton(first)
    if not key:
        return None
    return _CITY_ALIASES.get(key, key)
