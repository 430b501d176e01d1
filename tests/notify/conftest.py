"""A workspace with a confirmed case and a small gallery of relatives, ready to notify."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.casework import add_team, candidate, photo, result
from nextofkin.cases.review import review
from nextofkin.cases.service import attach_search, open_case, photo_paths
from nextofkin.gallery.records import Account, Source
from nextofkin.workspace import Workspace


def add_gallery(ws: Workspace) -> None:
    with ws.session() as s:
        source = Source(name="vk", root="/exports/vk", layout="folder")
        s.add(source)
        s.flush()
        for external, name, contacts in (
            ("olena", "Olena Shevchenko", {"email": "olena@example.org"}),
            ("maria", "Maria Shevchenko", {"email": "maria@example.org"}),
            ("petro", "Petro Shevchenko", {"telegram": "@petro", "phone": "+380501234567"}),
            ("ivanka", "Ivanka S.", {"email": "MARIA@example.org"}),  # shares maria's mailbox
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


def open_searched_case(ws: Workspace, tmp: Path, number: str = "C1") -> None:
    """Case ``number``: one probe photo, searched by ivan; olena is the top candidate."""
    with ws.session() as s:
        info = open_case(
            s,
            ws,
            "ivan",
            number,
            [photo(tmp / f"{number}.jpg", size=(320, 240))],
            found_at="2024-05-17",
            place="Izium, Kharkiv oblast",
        )
        attach_search(
            s,
            ws,
            "ivan",
            number,
            result(photo_paths(ws, info), [candidate(1, "olena", 0.93, "match")]),
        )


@pytest.fixture
def ws(workspace: Workspace, tmp_path: Path) -> Workspace:
    with workspace.session() as s:
        add_team(s)
    add_gallery(workspace)
    open_searched_case(workspace, tmp_path)
    workspace.settings.notify.team_name = "Identification Team North"
    workspace.settings.notify.team_email = "team@example.org"
    workspace.settings.notify.team_phone = "+380 44 000 00 00"
    workspace.settings.notify.backoff_seconds = 0.01
    return workspace


@pytest.fixture
def confirmed(ws: Workspace) -> Workspace:
    with ws.session() as s:
        review(s, ws.settings.review, "rita", "C1", "vk/olena", "confirm")
    return ws
