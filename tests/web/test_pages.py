"""The server-rendered pages: login, role checks, the case page, forms with CSRF, messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from web_helpers import PASSWORDS, Team, csrf_of, jpeg, open_case

from nextofkin import audit
from nextofkin.workspace import Workspace
from notify.smtpd import smtp_server, use_server


def actions(app: FastAPI) -> list[tuple[str | None, str]]:
    ws: Workspace = app.state.web.workspace
    with ws.session() as s:
        return [(e.actor, e.action) for e in audit.entries(s)]


def test_login_logout_and_next(anon: Any, app: FastAPI) -> None:
    page = anon.get("/cases/C1", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/cases/C1"
    token = csrf_of(anon.get("/login").text)
    wrong = anon.post(
        "/login", data={"name": "ivan", "password": "nope", "csrf_token": token, "next": "/"}
    )
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    unknown = anon.post(
        "/login", data={"name": "mallory", "password": "x", "csrf_token": token, "next": "/"}
    )
    assert unknown.text.count("Wrong user name or password") == 1  # same answer for both
    no_csrf = anon.post("/login", data={"name": "ivan", "password": PASSWORDS["ivan"]})
    assert no_csrf.status_code == 403
    good = anon.post(
        "/login",
        data={
            "name": "ivan",
            "password": PASSWORDS["ivan"],
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == "/"  # no open redirect
    assert anon.get("/api/me").json()["name"] == "ivan"
    # The session was renewed at login: the pre-login CSRF token is gone.
    fresh = csrf_of(anon.get("/").text)
    assert fresh != token
    anon.post("/logout", data={"csrf_token": fresh})
    assert anon.get("/api/me").status_code == 401
    log = actions(app)
    assert ("ivan", "web.login_failed") in log and (None, "web.login_failed") in log
    assert ("ivan", "web.login") in log and ("ivan", "web.logout") in log


PAGES = ["/", "/cases", "/cases/new", "/cases/C1", "/cases/C1/notify", "/accounts?q=sh",
         "/accounts/1", "/audit", "/audit?case=C1", "/audit/verify", "/status", "/tokens",
         "/users", "/purge", "/alerts", "/alerts?all_states=true"]  # fmt: skip
ADMIN_ONLY = {"/users", "/purge"}


def test_every_page_renders_for_the_roles_that_may_see_it(team: Team) -> None:
    open_case(team)
    for name in ("ivan", "rita", "ada"):
        for path in PAGES:
            response = team[name].get(path)
            if path in ADMIN_ONLY and name != "ada":
                assert response.status_code == 403, (name, path)
                assert "Not allowed" in response.text
            else:
                assert response.status_code == 200, (name, path, response.text[:500])
                assert "<script>" not in response.text  # no inline scripts (CSP)
                assert " style=" not in response.text  # no inline styles (CSP)
    admin_cases = team["ada"].get("/cases/new")
    assert admin_cases.status_code == 200


def test_case_page_shows_what_scores_mean_and_who_may_decide(team: Team) -> None:
    open_case(team)
    rita = team["rita"].get("/cases/C1").text
    assert "What the scores mean" in rita and "stranger" in rita
    assert rita.count("data-candidate") == 3 and rita.count('value="confirm"') == 3
    assert "/media/cases/C1/searches/1/probes/1.jpg" in rita  # the probe face beside each one
    ivan = team["ivan"].get("/cases/C1").text
    assert ivan.count("data-candidate") == 3 and 'value="confirm"' not in ivan  # no review
    assert "Needs 2 reviewers" in ivan  # a possible match needs two


def test_confirm_and_reject_through_the_forms(team: Team, app: FastAPI) -> None:
    open_case(team)
    rita = team["rita"]
    forged = rita.post("/cases/C1/review", data={"account": "vk/petro", "verdict": "reject"})
    assert forged.status_code == 403  # no CSRF token
    rejected = rita.post(
        "/cases/C1/review",
        data={"account": "vk/petro", "verdict": "reject", "reason": "different ears",
              "rank": "3", "csrf_token": team.csrf["rita"]},
    )  # fmt: skip
    assert rejected.status_code == 200 and "Rejected vk/petro" in rejected.text
    page = rita.post(
        "/cases/C1/review",
        data={"account": "vk/olena", "verdict": "confirm", "reason": "same scar",
              "csrf_token": team.csrf["rita"]},
    )  # fmt: skip
    assert "case identified" in page.text and "Confirmed: this is the identification" in page.text
    again = rita.post(
        "/cases/C1/review",
        data={"account": "vk/olena", "verdict": "confirm", "csrf_token": team.csrf["rita"]},
    )
    assert "already confirmed" in again.text  # the policy's refusal, shown as a message
    decisions = [a for a in actions(app) if a[1].startswith("review.")]
    assert decisions == [("rita", "review.reject"), ("rita", "review.confirm")]


def test_upload_more_photos_and_search_again(team: Team, app: FastAPI) -> None:
    open_case(team)
    ivan = team["ivan"]
    page = ivan.post(
        "/cases/C1/photos",
        data={"csrf_token": team.csrf["ivan"]},
        files=[("photos", ("second.png", jpeg(3), "image/jpeg"))],
    )
    assert "Added 1 photo" in page.text and "second.png" in page.text
    bad = ivan.post(
        "/cases/C1/photos",
        data={"csrf_token": team.csrf["ivan"]},
        files=[("photos", ("x.jpg", b"GIF89a" + b"\0" * 10, "image/gif"))],
    )
    assert bad.status_code == 200 and "flash-error" in bad.text  # shown, case unchanged
    again = ivan.post("/cases/C1/search", data={"csrf_token": team.csrf["ivan"], "top": "2"})
    assert "Search 2: 2 candidates." in again.text
    assert len(app.state.fake_engine.calls[-1]) == 2  # both photos searched


def test_new_case_form_opens_and_searches(team: Team) -> None:
    page = team["ivan"].post(
        "/cases/new",
        data={"number": "2024/17", "place": "Izium", "search": "true",
              "csrf_token": team.csrf["ivan"]},
        files=[("photos", ("body.jpg", jpeg(4), "image/jpeg"))],
    )  # fmt: skip
    assert page.status_code == 200
    assert "Case 2024/17" in page.text and "Search 1: 3 candidates." in page.text
    assert team["ivan"].get("/media/cases/2024/17/photos/1.jpg").status_code == 200


def test_notification_editor_drafts_previews_and_sends(
    team: Team, app: FastAPI, tmp_path: Path
) -> None:
    open_case(team)
    team["rita"].post(
        "/api/cases/C1/review",
        json={"account": "vk/olena", "verdict": "confirm"},
        headers=team.headers("rita"),
    )
    ivan, rita = team["ivan"], team["rita"]
    drafted = ivan.post(
        "/cases/C1/notify/draft",
        data={"to": "vk/maria", "language": "uk", "attach": "face", "channel": "email",
              "csrf_token": team.csrf["ivan"]},
    )  # fmt: skip
    assert "1 draft ready" in drafted.text
    assert "maria@example.org" in drafted.text and "Approve and send" not in drafted.text
    attachment = ivan.get("/media/cases/C1/messages/attachment.jpg?to=account:vk/maria")
    assert attachment.status_code == 200 and attachment.content[:3] == b"\xff\xd8\xff"
    preview = rita.get("/cases/C1/notify").text
    assert "Approve and send" in preview
    ws: Workspace = app.state.web.workspace
    with smtp_server(tmp_path) as server:
        use_server(ws, server.port)
        sent = rita.post(
            "/cases/C1/notify/send", data={"to": "vk/maria", "csrf_token": team.csrf["rita"]}
        )
        assert "account:vk/maria: sent" in sent.text
        again = rita.post(
            "/cases/C1/notify/send", data={"to": "vk/maria", "csrf_token": team.csrf["rita"]}
        )
        assert "nothing sent" in again.text
        (mail,) = server.handler.received
    (text,) = [
        part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        for part in mail.walk()
        if part.get_content_type() == "text/plain"
    ]
    assert text.strip().splitlines()[0] in preview
    assert mail["To"].endswith("<maria@example.org>")
    assert team["ivan"].get("/api/cases/C1").json()["case"]["state"] == "notified"


def test_a_message_voided_by_a_later_decision_says_why_and_offers_no_send(team: Team) -> None:
    open_case(team)
    review = {"account": "vk/olena", "verdict": "confirm"}
    team["rita"].post("/api/cases/C1/review", json=review, headers=team.headers("rita"))
    team["ivan"].post(
        "/cases/C1/notify/draft",
        data={"to": "vk/maria", "channel": "email", "csrf_token": team.csrf["ivan"]},
    )
    review = {"account": "vk/olena", "verdict": "reject", "reason": "wrong scar"}
    team["rob"].post("/api/cases/C1/review", json=review, headers=team.headers("rob"))
    page = team["rita"].get("/cases/C1/notify").text
    assert "state-void" in page and "written before the latest review decision" in page
    assert "Approve and send" not in page


def test_tokens_page_shows_a_new_token_once(team: Team) -> None:
    made = team["ivan"].post("/tokens", data={"label": "laptop", "csrf_token": team.csrf["ivan"]})
    assert made.status_code == 201 and "nok_" in made.text
    listed = team["ivan"].get("/tokens").text
    assert "laptop" in listed and "shown this once" not in listed


def test_admin_adds_users_and_purges(team: Team) -> None:
    ada = team["ada"]
    page = ada.post(
        "/users",
        data={"name": "nina", "role": "reviewer", "password": "nina-pass-1",
              "csrf_token": team.csrf["ada"]},
    )  # fmt: skip
    assert "Added nina (reviewer)" in page.text
    unconfirmed = ada.post(
        "/purge", data={"kind": "account", "target": "vk/petro", "csrf_token": team.csrf["ada"]}
    )
    assert "cannot be undone" in unconfirmed.text
    done = ada.post(
        "/purge",
        data={"kind": "account", "target": "vk/petro", "confirm": "true",
              "csrf_token": team.csrf["ada"]},
    )  # fmt: skip
    assert "Purged account:vk/petro" in done.text
