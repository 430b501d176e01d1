"""The case page in Ukrainian in a real browser (Debian's chromium through Playwright).

The browser asks for Ukrainian the way a team's browsers do (its locale sets Accept-Language);
the identify service is the fake one of the page tests, so no model loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, chromium, running
from fastapi import FastAPI
from web_helpers import PASSWORDS, jpeg

pytestmark = pytest.mark.slow

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# Words of the English UI; none may be left on the Ukrainian case page.
ENGLISH_UI = re.compile(
    r"\b(Case|Search|Candidates|Decisions|Confirm|Reject|Reason|Post-mortem|photos?|"
    r"score|stranger|reviewers?|Needs|Kin|Audit|Notify|Upload|Log out|Dashboard)\b"
)


def test_case_page_in_ukrainian(app: FastAPI, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (scripts/setup-system.sh --dev)")
    photo = tmp_path / "body.jpg"
    photo.write_bytes(jpeg(3))
    with running(app) as url, chromium() as browser:
        context = browser.new_context(locale="uk-UA", viewport={"width": 1366, "height": 900})
        page: Any = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/login")
        assert page.get_attribute("html", "lang") == "uk"
        page.fill("#name", "ivan")
        page.fill("#password", PASSWORDS["ivan"])
        page.click("button:has-text('Увійти')")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/cases/new")
        page.fill("#number", "2024-017")
        page.fill("#place", "Ізюм")
        page.set_input_files("#photos", str(photo))
        page.click("button:has-text('Відкрити справу')")
        page.wait_for_url(f"{url}/cases/2024-017")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "case-uk.png"), full_page=True, caret="initial")

        assert page.inner_text("h1").startswith("Справа 2024-017")
        text = re.sub(r"[\u00a0\u202f]", " ", page.inner_text("main"))
        assert "Посмертні фото" in text and "Кандидати" in text and "Що означають бали" in text
        assert "Потрібне підтвердження 2 рецензентів." in text
        assert "галерея: 1 000 облікових записів" in text
        assert "приблизно 1 раз із 2 000" in text
        # The data a person typed or the gallery holds stays as it is; the UI is all Ukrainian.
        data = {"2024-017", "Ізюм", "ivan", "body.jpg", "vk/olena", "vk/maria", "vk/petro"}
        ui = text
        for value in data:
            ui = ui.replace(value, "")
        assert not ENGLISH_UI.search(ui), ENGLISH_UI.search(ui)
        # Class names and values are machine fields: they stay English for CSS, JS and scripts.
        assert page.locator("li.candidate.decision-match").count() == 1
        assert errors == []
        context.close()
