"""Corroboration through the API and the review forms: a body identified from the gallery is
linked to a family's inquiry only when the reviewer states both name the same person."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_inquiries_web import AnalysingIdentify, file, site  # noqa: F401 - fixture
from web_helpers import jpeg

from cases.casework import candidate
from inquiries.inquirywork import near, unit


def _case_and_linked_inquiry(
    server: tuple[FastAPI, dict[str, TestClient], dict[str, str]],
) -> tuple[dict[str, object], int]:
    """Case K-1 opened and searched (vk/olena, match), and an inquiry filed with a face like the
    body's: the inquiry as the API returned it, and its proposed link's id."""
    app, users, _ = server
    engine: AnalysingIdentify = app.state.engine_stand_in
    engine.candidates = [candidate(11, "olena", 0.93, "match")]
    taras = unit(1)
    body = engine.face(jpeg(1), taras)
    response = users["ivan"].post(
        "/api/cases", data={"number": "K-1"}, files=[("photos", ("b.jpg", body, "image/jpeg"))]
    )
    assert response.status_code == 201, response.text
    assert users["ivan"].post("/api/cases/K-1/search", json={}).status_code == 200
    status, inquiry = file(users["ina"], engine.face(jpeg(3), near(taras, 2)))
    assert status == 201, inquiry
    links = inquiry["links"]
    assert isinstance(links, list)
    return inquiry, int(links[0]["id"])


def test_api_and_forms_state_the_corroboration(
    site: tuple[FastAPI, dict[str, TestClient], dict[str, str]],  # noqa: F811
) -> None:
    _, users, csrf = site
    inquiry, link = _case_and_linked_inquiry(site)

    # The link first, through the inquiry page's form.
    form = {"csrf_token": csrf["rita"], "verdict": "confirm", "inquiry": str(inquiry["id"])}
    decided = users["rita"].post(
        f"/inquiry-links/{link}/review", data={**form, "corroborates": ""}, follow_redirects=False
    )
    assert decided.status_code == 303
    # The case page offers the confirmed link to state (never preselected).
    page = users["rita"].get("/cases/K-1").text
    assert (
        f'<option value="{link}">' in page
        and "selected" not in page.split('name="corroborates"')[1][:300]
    )

    # The identification after it: refused with what to do, then confirmed as corroborating.
    review = "/api/cases/K-1/review"
    refused = users["rob"].post(review, json={"account": "olena", "verdict": "confirm"})
    assert refused.status_code == 409, refused.text
    assert f"--corroborates {link}" in refused.text
    stated = {"account": "olena", "verdict": "confirm", "corroborates": link}
    wrong = users["rob"].post(review, json={**stated, "corroborates": link + 1})
    assert wrong.status_code == 409 and "is not it" in wrong.text
    # Through the case page's form, as a reviewer would.
    form = {"csrf_token": csrf["rob"], **{k: str(v) for k, v in stated.items()}}
    posted = users["rob"].post("/cases/K-1/review", data=form, follow_redirects=False)
    assert posted.status_code == 303
    assert users["rob"].get("/api/cases/K-1").json()["case"]["identified_ref"] == "vk/olena"


def test_the_inquiry_page_offers_the_identification_to_state(
    site: tuple[FastAPI, dict[str, TestClient], dict[str, str]],  # noqa: F811
) -> None:
    _, users, csrf = site
    inquiry, link = _case_and_linked_inquiry(site)
    page = f"/inquiries/{inquiry['id']}"
    assert 'name="corroborates"' not in users["rita"].get(page).text  # nothing stands yet
    decided = users["rob"].post(
        "/api/cases/K-1/review", json={"account": "olena", "verdict": "confirm"}
    )
    assert decided.status_code == 200 and decided.json()["identified"], decided.text
    shown = re.search(
        r'name="corroborates"><option value=""></option><option value="(\d+)">(\d+) · vk/olena<',
        users["rita"].get(page).text,
    )
    assert shown is not None
    form = {"csrf_token": csrf["rita"], "verdict": "confirm", "inquiry": str(inquiry["id"])}
    users["rita"].post(f"/inquiry-links/{link}/review", data=form, follow_redirects=False)
    assert users["rita"].get(f"/api/inquiries/{inquiry['id']}").json()["links"][0]["state"] == (
        "proposed"
    )
    stated = {**form, "corroborates": shown.group(1)}
    users["rita"].post(f"/inquiry-links/{link}/review", data=stated, follow_redirects=False)
    assert users["rita"].get(f"/api/inquiries/{inquiry['id']}").json()["links"][0]["state"] == (
        "confirmed"
    )
