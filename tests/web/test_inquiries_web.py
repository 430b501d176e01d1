"""Inquiries through the REST API and the pages: route by role, intake sees only its own, the
case page and the inquiry page show each other's links, the letter to a confirmed inquirer."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_helpers import UPLOAD_LIMIT, jpeg, session_cookie

from cases.casework import FakeIdentify
from inquiries.inquirywork import VectorAnalyser, near, unit
from nextofkin.settings import Settings
from nextofkin.users.service import add_user
from nextofkin.web.config import WebConfig
from nextofkin.workspace import Workspace

USERS = ["ada", "ivan", "rita", "rob", "ina", "ira"]


class AnalysingIdentify(FakeIdentify):
    """The web tests' stand-in search, with a photo analyser for inquiry sweeps."""

    def __init__(self) -> None:
        super().__init__([])
        self.analyser = VectorAnalyser()

    def face(self, data: bytes, vector: object) -> bytes:
        self.analyser.faces[hashlib.sha256(data).hexdigest()] = vector  # type: ignore[assignment]
        return data


@pytest.fixture
def site(web_settings: Settings) -> Iterator[tuple[FastAPI, dict[str, TestClient], dict[str, str]]]:
    from nextofkin.web.app import create_app

    ws = Workspace.open(web_settings)
    with ws.session() as s:
        add_user(s, "ada", "ina", "intake")
        add_user(s, "ada", "ira", "intake")
    ws.close()
    engine = AnalysingIdentify()
    config = WebConfig(load_models=False, max_upload_bytes=UPLOAD_LIMIT, max_upload_files=3)
    app = create_app(web_settings, config, identifier=lambda _ws: engine)
    app.state.engine_stand_in = engine
    clients: dict[str, TestClient] = {}
    csrf: dict[str, str] = {}
    with TestClient(app, base_url="http://127.0.0.1"):
        for name in USERS:
            client = TestClient(app, base_url="http://127.0.0.1")
            client.__enter__()
            csrf[name] = secrets.token_urlsafe(32)
            client.cookies.set("nextofkin_session", session_cookie(app, name, csrf[name]))
            client.headers["X-CSRF-Token"] = csrf[name]
            clients[name] = client
        try:
            yield app, clients, csrf
        finally:
            for client in clients.values():
                client.__exit__(None, None, None)


def file(client: TestClient, photo: bytes, consent: bool = True) -> tuple[int, dict[str, object]]:
    data = {
        "missing_name": "Taras Bondar",
        "inquirer_name": "Halyna Bondar",
        "inquirer_relation": "mother",
        "inquirer_email": "mother@example.org",
    }
    if consent:
        data["consent"] = "true"
    response = client.post(
        "/api/inquiries", data=data, files=[("photos", ("taras.jpg", photo, "image/jpeg"))]
    )
    return response.status_code, response.json()


def test_inquiries_through_the_api_and_pages_by_role(
    site: tuple[FastAPI, dict[str, TestClient], dict[str, str]], tmp_path: Path
) -> None:
    app, users, csrf = site
    engine: AnalysingIdentify = app.state.engine_stand_in
    taras = unit(1)
    body = engine.face(jpeg(1), taras)
    response = users["ivan"].post(
        "/api/cases", data={"number": "K-1"}, files=[("photos", ("b.jpg", body, "image/jpeg"))]
    )
    assert response.status_code == 201, response.text

    status, refused = file(users["ina"], engine.face(jpeg(2), near(taras, 1)), consent=False)
    assert status == 409 and "consent" in str(refused)
    status, mine = file(users["ina"], engine.face(jpeg(3), near(taras, 2)))
    assert status == 201, mine
    links = mine["links"]
    assert isinstance(links, list) and [lk["case_number"] for lk in links] == ["K-1"]
    link = links[0]["id"]
    status, theirs = file(users["ira"], engine.face(jpeg(4), unit(5)))
    assert status == 201 and theirs["links"] == []

    # Route by role: intake files and reads its own inquiries, nothing of cases or others'.
    expected = {
        ("ina", "GET", "/api/inquiries"): 200,
        ("ina", "GET", f"/api/inquiries/{mine['id']}"): 200,
        ("ira", "GET", f"/api/inquiries/{mine['id']}"): 404,
        ("ina", "GET", "/api/cases"): 403,
        ("ina", "GET", "/api/inquiry-links?case=K-1"): 403,
        ("ivan", "GET", "/api/inquiry-links?case=K-1"): 200,
        ("ivan", "GET", f"/api/inquiries/{theirs['id']}"): 200,
        ("ina", "GET", "/cases/K-1"): 403,
        ("ina", "GET", f"/inquiries/{mine['id']}"): 200,
        ("ira", "GET", f"/inquiries/{mine['id']}"): 404,
    }
    got = {key: users[key[0]].request(key[1], key[2]).status_code for key in expected}
    assert got == expected
    assert [r["id"] for r in users["ira"].get("/api/inquiries").json()] == [theirs["id"]]
    landing = users["ina"].get("/", follow_redirects=False)
    assert (landing.status_code, landing.headers["location"]) == (303, "/inquiries")
    intake_page = users["ina"].get("/inquiries").text
    assert "Taras Bondar" in intake_page and 'href="/cases"' not in intake_page

    review = f"/api/inquiry-links/{link}/review"
    assert users["ina"].post(review, json={"verdict": "confirm"}).status_code == 403
    assert users["ivan"].post(review, json={"verdict": "confirm"}).status_code == 403
    response = users["rita"].post(review, json={"verdict": "confirm", "reason": "scar"})
    assert response.status_code == 200 and response.json()["state"] == "confirmed"

    # The case page and the inquiry page show each other.
    case_page = users["ivan"].get("/cases/K-1").text
    assert f'href="/inquiries/{mine["id"]}"' in case_page and "confirmed" in case_page
    inquiry_page = users["ivan"].get(f"/inquiries/{mine['id']}").text
    assert 'href="/cases/K-1"' in inquiry_page
    assert 'href="/cases/K-1"' not in users["ina"].get(f"/inquiries/{mine['id']}").text

    app.state.web.settings.notify.team_phone = "+380 44 000 00 00"
    response = users["ivan"].post("/api/inquiry-letters/K-1", json={})
    assert response.status_code == 200, response.text
    assert response.json()["recipient"] == f"inquiry:{mine['id']}"
    assert users["ina"].post("/api/inquiry-letters/K-1", json={}).status_code == 403

    assert users["ira"].delete(f"/api/inquiries/{mine['id']}").status_code == 404
    assert users["ivan"].delete(f"/api/inquiries/{mine['id']}").status_code == 403
    response = users["ina"].delete(f"/api/inquiries/{mine['id']}")
    assert response.status_code == 200 and response.json()["photos"] == 1
    assert users["ivan"].get(f"/api/inquiries/{mine['id']}").status_code == 404
    assert f'href="/inquiries/{mine["id"]}"' not in users["ivan"].get("/cases/K-1").text

    # A body found later is searched against the inquiries waiting (here ira's).
    later = engine.face(jpeg(6), near(unit(5), 3))
    response = users["ivan"].post(
        "/api/cases", data={"number": "K-2"}, files=[("photos", ("c.jpg", later, "image/jpeg"))]
    )
    assert response.status_code == 201, response.text
    shown = users["ira"].get(f"/api/inquiries/{theirs['id']}").json()
    assert [lk["case_number"] for lk in shown["links"]] == ["K-2"]
    assert csrf


def test_inquiry_pages_record_review_and_withdraw(
    site: tuple[FastAPI, dict[str, TestClient], dict[str, str]],
) -> None:
    app, users, csrf = site
    engine: AnalysingIdentify = app.state.engine_stand_in
    taras = unit(1)
    body = engine.face(jpeg(1), taras)
    response = users["ivan"].post(
        "/api/cases", data={"number": "K-1"}, files=[("photos", ("b.jpg", body, "image/jpeg"))]
    )
    assert response.status_code == 201, response.text
    form = {
        "csrf_token": csrf["ina"],
        "missing_name": "Taras Bondar",
        "inquirer_name": "Halyna Bondar",
        "inquirer_relation": "mother",
        "inquirer_phone": "+380501112233",
    }
    photo = [("photos", ("t.jpg", engine.face(jpeg(2), near(taras, 1)), "image/jpeg"))]
    refused = users["ina"].post("/inquiries", data=form, files=photo, follow_redirects=False)
    assert (refused.status_code, refused.headers["location"]) == (303, "/inquiries")
    assert "consent" in users["ina"].get("/inquiries").text
    made = users["ina"].post(
        "/inquiries", data={**form, "consent": "true"}, files=photo, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"].startswith("/inquiries/")
    page = users["rita"].get(made.headers["location"]).text
    assert "K-1" in page and 'value="confirm"' in page
    inquiry = int(made.headers["location"].rsplit("/", 1)[1])
    link = users["rita"].get(f"/api/inquiries/{inquiry}").json()["links"][0]["id"]
    decided = users["rita"].post(
        f"/inquiry-links/{link}/review",
        data={"csrf_token": csrf["rita"], "verdict": "confirm", "inquiry": str(inquiry)},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert users["rita"].get(f"/api/inquiries/{inquiry}").json()["links"][0]["state"] == "confirmed"
    gone = users["ina"].post(
        f"/inquiries/{inquiry}/purge", data={"csrf_token": csrf["ina"]}, follow_redirects=False
    )
    assert (gone.status_code, gone.headers["location"]) == (303, "/inquiries")
    assert users["ivan"].get(f"/api/inquiries/{inquiry}").status_code == 404
