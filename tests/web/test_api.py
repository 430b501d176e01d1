"""The REST API: every route's authentication and role checks, uploads, errors, and the flow."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from web_helpers import ROLES, Team, jpeg, open_case

from nextofkin import audit
from nextofkin.workspace import Workspace

ALL = frozenset(ROLES)
ADMIN = frozenset({"ada"})
REVIEWERS = frozenset({"rita", "rob"})
DRAFTERS = frozenset({"ivan", "rita", "rob"})
CLOSERS = frozenset({"ada", "rita", "rob"})


def upload(name: str = "x.jpg") -> dict[str, Any]:
    return {"files": [("photos", (name, jpeg(5), "image/jpeg"))]}


# (method, route template, concrete path, request kwargs, roles allowed)
MATRIX: list[tuple[str, str, str, dict[str, Any], frozenset[str]]] = [
    ("GET", "/api/me", "/api/me", {}, ALL),
    ("GET", "/api/status", "/api/status", {}, ALL),
    ("GET", "/api/accounts", "/api/accounts?q=olena", {}, ALL),
    ("GET", "/api/accounts/{account_id}", "/api/accounts/1", {}, ALL),
    ("GET", "/api/photos/{photo_id}", "/api/photos/1", {}, ALL),
    ("GET", "/api/users", "/api/users", {}, ADMIN),
    ("POST", "/api/users", "/api/users", {"json": {"name": "zed", "role": "investigator"}}, ADMIN),
    ("POST", "/api/users/{name}/deactivate", "/api/users/nobody/deactivate", {}, ADMIN),
    ("POST", "/api/users/{name}/activate", "/api/users/nobody/activate", {}, ADMIN),
    ("POST", "/api/tokens", "/api/tokens", {"json": {"label": "script"}}, ALL),
    ("GET", "/api/tokens", "/api/tokens", {}, ALL),
    ("DELETE", "/api/tokens/{token_id}", "/api/tokens/999", {}, ALL),
    ("GET", "/api/cases", "/api/cases", {}, ALL),
    ("POST", "/api/cases", "/api/cases", {"data": {"number": "NEW"}, **upload()}, ALL),
    ("POST", "/api/identify", "/api/identify", upload("probe.jpg"), ALL),
    ("POST", "/api/cases/{number:path}/photos", "/api/cases/C1/photos", upload("more.jpg"), ALL),
    ("POST", "/api/cases/{number:path}/search", "/api/cases/C1/search", {"json": {}}, ALL),
    ("GET", "/api/cases/{number:path}/candidates", "/api/cases/C1/candidates", {}, ALL),
    (
        "POST",
        "/api/cases/{number:path}/review",
        "/api/cases/C1/review",
        {"json": {"account": "vk/petro", "verdict": "reject", "reason": "not him"}},
        REVIEWERS,
    ),
    ("POST", "/api/cases/{number:path}/close", "/api/cases/NOPE/close", {"json": {}}, CLOSERS),
    ("GET", "/api/cases/{number:path}", "/api/cases/C1", {}, ALL),
    ("GET", "/api/audit", "/api/audit?last=5", {}, ALL),
    ("GET", "/api/audit/verify", "/api/audit/verify", {}, ALL),
    ("GET", "/api/notify/options", "/api/notify/options", {}, ALL),
    ("GET", "/api/notify", "/api/notify?case=C1", {}, ALL),
    (
        "POST",
        "/api/notify/drafts",
        "/api/notify/drafts",
        {"json": {"case": "C1", "to": ["vk/maria"]}},
        DRAFTERS,
    ),
    ("POST", "/api/notify/send", "/api/notify/send", {"json": {"case": "NOPE"}}, REVIEWERS),
    (
        "POST",
        "/api/notify/mark-sent",
        "/api/notify/mark-sent",
        {"json": {"case": "NOPE", "to": "vk/maria"}},
        REVIEWERS,
    ),
    (
        "POST",
        "/api/notify/release",
        "/api/notify/release",
        {"json": {"case": "NOPE", "to": "vk/maria", "reason": "checked"}},
        REVIEWERS,
    ),
    ("GET", "/api/kin", "/api/kin?account=vk/olena", {}, ALL),
    ("GET", "/api/cases/{number:path}/kin", "/api/cases/C1/kin", {}, ALL),
    ("POST", "/api/purge", "/api/purge", {"json": {"account": "vk/nobody"}}, ADMIN),
    ("GET", "/api/alerts", "/api/alerts?state=all", {}, ALL),
    ("POST", "/api/alerts/{alert_id}/acknowledge", "/api/alerts/999/acknowledge", {}, ALL),
    ("POST", "/api/alerts/rescan", "/api/alerts/rescan", {"json": {"cases": ["C1"]}}, ALL),
    ("GET", "/api/inquiries", "/api/inquiries", {}, ALL),
    (
        "POST",
        "/api/inquiries",
        "/api/inquiries",
        {
            "data": {
                "missing_name": "Taras",
                "inquirer_name": "Halyna",
                "inquirer_relation": "mother",
                "inquirer_phone": "+380501112233",
                "consent": "true",
            },
            **upload("taras.jpg"),
        },
        DRAFTERS,
    ),
    ("GET", "/api/inquiries/{inquiry_id}", "/api/inquiries/999", {}, ALL),
    ("POST", "/api/inquiries/{inquiry_id}/photos", "/api/inquiries/999/photos", upload(), DRAFTERS),
    ("DELETE", "/api/inquiries/{inquiry_id}", "/api/inquiries/999", {}, ALL),
    ("POST", "/api/inquiries/match", "/api/inquiries/match", {"json": {"cases": ["C1"]}}, ALL),
    (
        "POST",
        "/api/inquiry-links/{link_id}/review",
        "/api/inquiry-links/999/review",
        {"json": {"verdict": "reject"}},
        REVIEWERS,
    ),
    (
        "POST",
        "/api/inquiry-letters/{number:path}",
        "/api/inquiry-letters/C1",
        {"json": {}},
        DRAFTERS,
    ),
    ("GET", "/api/inquiry-links", "/api/inquiry-links?case=C1", {}, ALL),
    ("GET", "/media/faces/{face_id}.jpg", "/media/faces/1.jpg", {}, ALL),
    ("GET", "/media/photos/{photo_id}.jpg", "/media/photos/1.jpg", {}, ALL),
    (
        "GET",
        "/media/cases/{number:path}/photos/{ordinal}.jpg",
        "/media/cases/C1/photos/1.jpg",
        {},
        ALL,
    ),
    (
        "GET",
        "/media/cases/{number:path}/searches/{search_id}/probes/{ordinal}.jpg",
        "/media/cases/C1/searches/1/probes/1.jpg",
        {},
        ALL,
    ),
    (
        "GET",
        "/media/cases/{number:path}/messages/attachment.jpg",
        "/media/cases/C1/messages/attachment.jpg?to=account:vk/maria",
        {},
        ALL,
    ),
]


def test_the_matrix_covers_every_api_and_media_route(app: FastAPI) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    covered = {(method, template.replace(":path", "")) for method, template, *_ in MATRIX}
    assert routes == covered


def test_every_route_needs_a_login(anon: Any) -> None:
    for method, _template, path, kwargs, _allowed in MATRIX:
        response = anon.request(method, path, **kwargs)
        assert response.status_code == 401, (path, response.text)
        error = response.json()["error"]
        assert error["type"] == "NotAuthenticated" and error["message"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_every_route_checks_the_role(team: Team) -> None:
    open_case(team)
    for method, _template, path, kwargs, allowed in MATRIX:
        for name in ROLES:
            response = team[name].request(method, path, headers=team.headers(name), **kwargs)
            if name in allowed:
                assert response.status_code not in (401, 403), (name, path, response.text)
            else:
                assert response.status_code == 403, (name, path, response.text)
                assert response.json()["error"]["type"] == "PermissionDenied"


def test_bearer_tokens_work_without_csrf_and_stop_when_revoked(team: Team, anon: Any) -> None:
    made = (
        team["rita"].post("/api/tokens", json={"label": "ci"}, headers=team.headers("rita")).json()
    )
    token = made["token"]
    assert token.startswith("nok_") and made["info"]["user"] == "rita"
    auth = {"Authorization": f"Bearer {token}"}
    assert anon.get("/api/me", headers=auth).json()["name"] == "rita"
    # No CSRF token needed: a browser never adds this header on its own.
    assert anon.post("/api/tokens", json={"label": "2"}, headers=auth).status_code == 201
    # Nobody else can revoke it; rita can.
    assert (
        team["ivan"]
        .delete(f"/api/tokens/{made['info']['id']}", headers=team.headers("ivan"))
        .status_code
        == 404
    )
    revoked = team["rita"].delete(f"/api/tokens/{made['info']['id']}", headers=team.headers("rita"))
    assert revoked.json()["revoked"] is True
    assert anon.get("/api/me", headers=auth).status_code == 401
    assert anon.get("/api/me", headers={"Authorization": "Bearer nok_forged"}).status_code == 401


def test_session_requests_need_the_csrf_token(team: Team) -> None:
    ivan = team["ivan"]
    assert ivan.post("/api/tokens", json={"label": "x"}).status_code == 403
    wrong = ivan.post("/api/tokens", json={"label": "x"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert wrong.json()["error"]["type"] == "CsrfRejected"
    assert ivan.post("/api/tokens", json={"label": "x"}, headers=team.headers("ivan")).is_success
    # Each session has its own token.
    other = ivan.post("/api/tokens", json={"label": "x"}, headers=team.headers("rita"))
    assert other.status_code == 403


def test_deactivated_users_are_logged_out_at_once(team: Team) -> None:
    assert team["rob"].get("/api/me").status_code == 200
    response = team["ada"].post("/api/users/rob/deactivate", headers=team.headers("ada"))
    assert response.json()["active"] is False
    assert team["rob"].get("/api/me").status_code == 401


@pytest.mark.parametrize(
    ("files", "status", "kind"),
    [
        ([("photos", ("notes.txt", b"just some text, not a photo", "image/jpeg"))], 415, None),
        ([("photos", ("fake.jpg", b"%PDF-1.4 a pdf in disguise", "image/jpeg"))], 415, None),
        ([("photos", ("big.jpg", b"\xff\xd8\xff" + b"\0" * 400_000, "image/jpeg"))], 413, None),
        ([("photos", ("cut.jpg", b"\xff\xd8\xff\xe0 truncated", "image/jpeg"))], 400, None),
        ([("photos", (f"{i}.jpg", jpeg(i), "image/jpeg")) for i in range(4)], 415, None),
        ([("photos", ("../../etc/passwd", jpeg(9), "image/jpeg"))], 201, "passwd"),
    ],
    ids=["text", "pdf-as-jpeg", "too-large", "truncated", "too-many", "path-in-name"],
)
def test_bad_uploads_are_refused(
    team: Team, files: list[Any], status: int, kind: str | None, app: FastAPI
) -> None:
    response = team["ivan"].post(
        "/api/cases", data={"number": "UP-1"}, files=files, headers=team.headers("ivan")
    )
    assert response.status_code == status, response.text
    if status != 201:
        assert set(response.json()["error"]) >= {"type", "message"}
        assert team["ivan"].get("/api/cases/UP-1").status_code == 404
    else:
        (stored,) = response.json()["photos"]
        assert stored["original_name"] == kind  # the name only, never a path
        ws: Workspace = app.state.web.workspace
        assert (ws.media_dir / stored["stored_path"]).resolve().is_relative_to(ws.media_dir)


def test_a_huge_request_is_cut_off_before_parsing(team: Team) -> None:
    body = b"x" * (app_limit := 3 * 300_000 + 1_000_001)
    response = team["ivan"].post(
        "/api/cases",
        content=body,
        headers={**team.headers("ivan"), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413 and app_limit > 0
    assert response.json()["error"]["type"] == "UploadTooLarge"


TRAVERSALS = [
    "/media/cases/../../web-secret/photos/1.jpg",
    "/media/cases/C1/photos/..%2F..%2Fweb-secret.jpg",
    "/media/cases/%2e%2e/%2e%2e/photos/1.jpg",
    "/media/photos/..%2Fweb-secret.jpg",
    "/static/../web-secret",
    "/static/%2e%2e/%2e%2e/web-secret",
    "/media/cases/C1/messages/attachment.jpg?to=../../web-secret",
]


def test_no_path_traversal_through_media_urls(team: Team) -> None:
    open_case(team, search=False)
    secret_file = team["ivan"].app.state.web.settings.home / "web-secret"
    secret_file.write_bytes(b"not-for-the-web-" * 4)  # a file beside the database, never served
    secret = secret_file.read_bytes()
    for path in TRAVERSALS:
        response = team["ivan"].get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert secret not in response.content


def test_media_serves_only_known_case_photos(team: Team) -> None:
    open_case(team)
    photo = team["ivan"].get("/media/cases/C1/photos/1.jpg")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.content[:3] == b"\xff\xd8\xff"
    assert b"Exif" not in photo.content[:200]  # metadata stripped
    crop = team["ivan"].get("/media/cases/C1/searches/1/probes/1.jpg")
    assert crop.status_code == 200
    assert team["ivan"].get("/media/cases/C1/photos/2.jpg").status_code == 404
    assert team["ivan"].get("/media/cases/C2/photos/1.jpg").status_code == 404
    again = team["ivan"].get(
        "/media/cases/C1/photos/1.jpg", headers={"If-None-Match": photo.headers["etag"]}
    )
    assert again.status_code == 304


def test_security_headers_on_every_response(team: Team, anon: Any) -> None:
    first = anon.get("/login")
    raw = first.headers["set-cookie"].lower()
    assert "httponly" in raw and "samesite=strict" in raw
    for client, path in ((anon, "/login"), (team["ivan"], "/api/me"), (anon, "/static/app.css")):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert team["ivan"].get("/api/me").headers["cache-control"] == "no-store"


def test_errors_have_one_stable_shape(team: Team) -> None:
    cases = {
        "/api/cases/NOPE": (404, "NotFound"),
        "/api/accounts/999": (404, "NotFound"),
        "/api/kin?account=vk/nobody": (404, "NotFound"),
        "/api/accounts?limit=0": (422, "ValidationError"),
        "/api/no/such/route": (404, "NotFound"),
    }
    for path, (status, kind) in cases.items():
        response = team["ivan"].get(path)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"]["type"] == kind
        assert isinstance(response.json()["error"]["message"], str)
    state = team["ivan"].post(
        "/api/cases/NOPE/review",
        json={"account": "vk/olena", "verdict": "confirm"},
        headers=team.headers("ivan"),
    )
    assert state.status_code == 403  # investigators never review


def test_review_flow_and_audit(team: Team, app: FastAPI) -> None:
    open_case(team)
    cands = team["rita"].get("/api/cases/C1/candidates").json()
    assert [c["ref"] for c in cands["candidates"]] == ["vk/olena", "vk/maria", "vk/petro"]
    assert cands["candidates"][0]["needed"] == 1 and cands["candidates"][1]["needed"] == 2
    assert "stranger" in cands["candidates"][0]["meaning"]
    # Nobody may notify before a reviewer confirms.
    early = team["ivan"].post(
        "/api/notify/drafts", json={"case": "C1", "to": ["vk/maria"]}, headers=team.headers("ivan")
    )
    assert early.status_code == 409 and early.json()["error"]["type"] == "PolicyViolation"
    done = team["rita"].post(
        "/api/cases/C1/review",
        json={"account": "vk/olena", "verdict": "confirm", "reason": "scar on the chin"},
        headers=team.headers("rita"),
    )
    assert done.status_code == 200, done.text
    assert done.json()["identified"] is True and done.json()["state"] == "identified"
    twice = team["rita"].post(
        "/api/cases/C1/review",
        json={"account": "vk/olena", "verdict": "confirm"},
        headers=team.headers("rita"),
    )
    assert twice.status_code == 409
    ws: Workspace = app.state.web.workspace
    with ws.session() as s:
        actions = [(e.actor, e.action) for e in audit.entries(s)]
    assert ("rita", "case.view") in actions  # viewing candidates is recorded
    assert ("rita", "review.confirm") in actions
    verify = team["ada"].get("/api/audit/verify").json()
    assert verify["ok"] is True and verify["checked"] == len(actions)


def test_identify_opens_a_case_and_every_search_belongs_to_one(team: Team, app: FastAPI) -> None:
    response = team["ivan"].post(
        "/api/identify", data={"top": "2"}, files=upload("body.jpg")["files"],
        headers=team.headers("ivan"),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["opened"] and outcome["case_number"].startswith("AUTO-")
    assert [c["account"] for c in outcome["result"]["candidates"]] == ["olena", "maria"]
    shown = team["ivan"].get(f"/api/cases/{outcome['case_number']}").json()
    assert shown["case"]["state"] == "searched" and shown["custody"][0]["ok"]
    assert len(app.state.fake_engine.calls) == 1


def test_users_admin(team: Team, anon: Any) -> None:
    made = team["ada"].post(
        "/api/users",
        json={"name": "nina", "role": "reviewer", "password": "nina-password"},
        headers=team.headers("ada"),
    )
    assert made.status_code == 201 and made.json()["has_password"]
    assert "password" not in made.text.replace("has_password", "")
    names = [u["name"] for u in team["ada"].get("/api/users").json()]
    assert "nina" in names
    bad = team["ada"].post(
        "/api/users", json={"name": "x y", "role": "reviewer"}, headers=team.headers("ada")
    )
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "InputError"


def test_openapi_schema_describes_the_api(anon: Any) -> None:
    schema = anon.get("/api/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/cases", "/api/identify", "/api/notify/send", "/api/purge", "/api/kin"):
        assert path in paths
    assert not any(p.startswith("/cases") for p in paths)  # pages are not in the API schema
    assert anon.get("/docs").status_code == 404  # no CDN-loaded Swagger UI
