"""Helpers and fixtures of the web tests: an app on a fresh workspace with a team and gallery,
and a stand-in search engine.

Faces are not the point of most web tests, so the app gets ``FakeIdentify`` (the same stand-in
the case tests use); the end-to-end browser test uses the real models instead.
"""

from __future__ import annotations

import re
import secrets
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cases.casework import FakeIdentify, candidate
from nextofkin.gallery.records import Account, Source
from nextofkin.settings import Settings
from nextofkin.users.service import add_user
from nextofkin.web.config import WebConfig
from nextofkin.workspace import Workspace

warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

PASSWORDS = {
    "ada": "ada-admin-pass",
    "ivan": "ivan-investigates",
    "rita": "rita-reviews-1",
    "rob": "rob-reviews-22",
}
ROLES = {"ada": "admin", "ivan": "investigator", "rita": "reviewer", "rob": "reviewer"}
UPLOAD_LIMIT = 300_000


def add_gallery(ws: Workspace) -> None:
    """Accounts of a family in source ``vk`` (records only: no photos)."""
    with ws.session() as s:
        source = Source(name="vk", root="/exports/vk", layout="folder")
        s.add(source)
        s.flush()
        for external, name, contacts in (
            ("olena", "Olena Shevchenko", {"email": "olena@example.org"}),
            ("maria", "Maria Shevchenko", {"email": "maria@example.org"}),
            ("petro", "Petro Shevchenko", {"telegram": "@petro", "phone": "+380501234567"}),
        ):
            s.add(
                Account(
                    source_id=source.id,
                    external_id=external,
                    name=name,
                    url=f"https://vk.example/{external}",
                    contacts=contacts,
                    friends=[],
                    extra={},
                )
            )


def add_team_with_passwords(ws: Workspace) -> None:
    """admin ada, investigator ivan, reviewers rita and rob, each with a web password."""
    with ws.session() as s:
        for name, role in ROLES.items():
            add_user(s, None if name == "ada" else "ada", name, role, password=PASSWORDS[name])


def fake_engine() -> FakeIdentify:
    """Three candidates from the notify tests' gallery (olena is a strong match)."""
    return FakeIdentify(
        [
            candidate(1, "olena", 0.93, "match"),
            candidate(2, "maria", 0.74, "possible"),
            candidate(3, "petro", 0.41, "no match"),
        ]
    )


@pytest.fixture(scope="session")
def template_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated workspace with the team and the gallery, made once (argon2 is slow on purpose)."""
    home = tmp_path_factory.mktemp("web-template") / "ws"
    ws = Workspace.open(Settings.load(home))
    try:
        add_team_with_passwords(ws)
        add_gallery(ws)
    finally:
        ws.close()
    return home


@pytest.fixture
def web_settings(tmp_path: Path, template_home: Path) -> Settings:
    """Settings of a fresh copy of the template workspace."""
    home = tmp_path / "ws"
    home.mkdir()
    for item in template_home.iterdir():
        if item.is_file():
            shutil.copy2(item, home / item.name)
    settings = Settings.load(home)
    settings.notify.backoff_seconds = 0.01
    settings.notify.team_name = "Identification team"
    settings.notify.team_email = "team@example.org"
    return settings


@pytest.fixture
def app(web_settings: Settings) -> FastAPI:
    from nextofkin.web.app import create_app

    engine = fake_engine()
    config = WebConfig(load_models=False, max_upload_bytes=UPLOAD_LIMIT, max_upload_files=3)
    application = create_app(web_settings, config, identifier=lambda _ws: engine)
    application.state.fake_engine = engine
    return application


@pytest.fixture
def anon(app: FastAPI) -> Iterator[TestClient]:
    """A client nobody is logged in on."""
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token a page carries in its forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def log_in(client: TestClient, name: str) -> str:
    """Log ``name`` in through the login form; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"name": name, "password": PASSWORDS[name], "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def session_cookie(app: FastAPI, name: str, csrf: str) -> str:
    """A session cookie for ``name``, as the login form would have made it.

    The login form itself is tested on its own; the other tests skip its argon2 check (slow on
    purpose) by writing the same server-side session row the login would write.
    """
    from nextofkin.web import sessions

    web = app.state.web
    with web.workspace.session() as s:
        raw, _ = sessions.create(
            s, None, sessions.Lifetimes.of(web.settings.web), user=name, data={"csrf": csrf}
        )
    return raw


class Team:
    """One logged-in client per user, with their CSRF tokens."""

    def __init__(self, app: FastAPI) -> None:
        self.clients: dict[str, TestClient] = {}
        self.csrf: dict[str, str] = {}
        for name in ROLES:
            client = TestClient(app, base_url="http://127.0.0.1")
            client.__enter__()
            self.csrf[name] = secrets.token_urlsafe(32)
            client.cookies.set("nextofkin_session", session_cookie(app, name, self.csrf[name]))
            self.clients[name] = client

    def __getitem__(self, name: str) -> TestClient:
        return self.clients[name]

    def headers(self, name: str) -> dict[str, str]:
        """The CSRF header a session client sends with unsafe requests."""
        return {"X-CSRF-Token": self.csrf[name]}

    def close(self) -> None:
        for client in self.clients.values():
            client.__exit__(None, None, None)


@pytest.fixture
def team(app: FastAPI, anon: TestClient) -> Iterator[Team]:
    """Everyone logged in (the app is started by ``anon``)."""
    people = Team(app)
    try:
        yield people
    finally:
        people.close()


def jpeg(seed: int = 0, size: tuple[int, int] = (200, 150)) -> bytes:
    """A small real JPEG (the astronaut, shifted so hashes differ)."""
    import io

    import numpy as np
    from PIL import Image
    from skimage import data

    pixels = np.roll(data.astronaut(), seed * 7, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize(size).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def open_case(team: Team, number: str = "C1", *, search: bool = True) -> None:
    """ivan opens case ``number`` through the API (and searches it)."""
    response = team["ivan"].post(
        "/api/cases",
        data={"number": number, "found_at": "2024-05-17", "place": "Izium"},
        files=[("photos", ("body.jpg", jpeg(1), "image/jpeg"))],
        headers=team.headers("ivan"),
    )
    assert response.status_code == 201, response.text
    if search:
        response = team["ivan"].post(
            f"/api/cases/{number}/search", json={"top": 5}, headers=team.headers("ivan")
        )
        assert response.status_code == 200, response.text
