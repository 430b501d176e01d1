"""The pages in the reader's language: Accept-Language, the user's own setting, the case page."""

from __future__ import annotations

import re

from fastapi import FastAPI
from web_helpers import Team, open_case

UK = {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}
PAGES = ["/", "/cases", "/cases/new", "/cases/C1", "/cases/C1/notify", "/cases/C1/kin",
         "/accounts?q=sh", "/accounts/1", "/audit", "/audit?case=C1", "/status", "/tokens",
         "/users", "/purge"]  # fmt: skip
# Words of the English UI that must not appear on a Ukrainian page (outside data and markup).
ENGLISH = re.compile(
    r">\s*(Dashboard|Cases|Search|Candidates|Decisions|Confirm|Reject|Reason|Photos|"
    r"Log out|Not searched yet|What the scores mean|Accounts|Users|Purge)\s*<"
)


def test_accept_language_chooses_the_page_language(team: Team, app: FastAPI) -> None:
    ivan = team["ivan"]
    uk = ivan.get("/", headers=UK).text
    assert '<html lang="uk">' in uk and ">Огляд<" in uk and ">Справи<" in uk
    en = ivan.get("/", headers=EN).text
    assert '<html lang="en">' in en and ">Dashboard<" in en
    ru = ivan.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9"}).text
    assert '<html lang="ru">' in ru and ">Обзор<" in ru and ">Дела<" in ru
    # A language we do not have falls back to English.
    assert '<html lang="en">' in ivan.get("/", headers={"Accept-Language": "de"}).text


def test_the_users_own_setting_wins_over_the_browser(team: Team, app: FastAPI) -> None:
    rita = team["rita"]
    saved = rita.post("/language", data={"language": "uk"}, headers={**team.headers("rita"), **EN})
    assert saved.status_code == 200 and "Мову збережено." in saved.text
    assert '<html lang="uk">' in rita.get("/cases", headers=EN).text
    # Someone else's browser still decides their own pages.
    assert '<html lang="en">' in team["ivan"].get("/cases", headers=EN).text
    rita.post("/language", data={"language": ""}, headers={**team.headers("rita"), **EN})
    assert '<html lang="en">' in rita.get("/cases", headers=EN).text
    refused = rita.post("/language", data={"language": "xx"}, headers=team.headers("rita"))
    assert "unknown language xx" in refused.text


def test_every_page_renders_in_ukrainian(team: Team, app: FastAPI) -> None:
    open_case(team)
    for url in PAGES:
        response = team["ada"].get(url, headers=UK)
        assert response.status_code == 200, (url, response.status_code)
        assert '<html lang="uk">' in response.text, url
        assert not ENGLISH.search(response.text), (url, ENGLISH.search(response.text))


def test_case_page_in_ukrainian(team: Team, app: FastAPI) -> None:
    open_case(team)
    page = re.sub(r"[\u00a0\u202f]", " ", team["rita"].get("/cases/C1", headers=UK).text)
    assert "Справа C1" in page and "Посмертні фото" in page and "Що означають бали" in page
    assert "впевнений збіг" in page and "можливий збіг" in page and "малоймовірно" in page
    # Plural forms: a possible match needs two reviewers ("рецензентів", not "рецензента").
    assert "Потрібне підтвердження 2 рецензентів." in page
    assert "галерея: 1 000 облікових записів" in page
    # The meaning is written in Ukrainian from the stored numbers (FPIR 0.0005, 1,000 accounts),
    # though the search stored an English sentence.
    assert (
        "стороння людина отримує такий високий бал у цій галереї, де 1 000 облікових записів "
        "приблизно 1 раз із 2 000" in page
    )
    assert "a stranger scores" not in page
    english = team["rita"].get("/cases/C1", headers=EN).text
    assert "against this gallery of 1,000 accounts about 1 time in 2,000" in english
    assert "Needs 2 reviewers to confirm." in english


def test_api_machine_fields_stay_english(team: Team, app: FastAPI) -> None:
    """The API's machine fields never change with the language; its sentences follow it."""
    open_case(team)
    uk = team["rita"].get("/api/cases/C1/candidates", headers=UK).json()["candidates"]
    en = team["rita"].get("/api/cases/C1/candidates", headers=EN).json()["candidates"]
    assert (
        [c["decision"] for c in uk]
        == [c["decision"] for c in en]
        == [
            "match",
            "possible",
            "no match",
        ]
    )
    assert [c["fpir"] for c in uk] == [c["fpir"] for c in en]
    assert uk[0]["decision_text"] == "впевнений збіг" and en[0]["decision_text"] == "strong match"
    assert "стороння людина" in uk[0]["meaning"] and "a stranger" in en[0]["meaning"]
