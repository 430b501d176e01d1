"""Cases: chain of custody, states and transitions, searches attached to cases."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cases.casework import FakeIdentify, add_team, candidate, photo, result
from nextofkin import audit
from nextofkin.cases.service import (
    TRANSITIONS,
    CaseState,
    attach_search,
    close_case,
    get_case,
    identify_for_case,
    list_cases,
    open_case,
    transition,
    verify_custody,
    view_case,
)
from nextofkin.errors import (
    CaseStateError,
    InputError,
    NoFaceFound,
    PermissionDenied,
    UnreadableImage,
)
from nextofkin.workspace import Workspace


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    with workspace.session() as s:
        add_team(s)
    return workspace


def test_open_copies_photos_with_hash_and_audits(ws: Workspace, tmp_path: Path) -> None:
    p1, p2 = photo(tmp_path / "a.jpg", 1), photo(tmp_path / "b.png", 2)
    with ws.session() as s:
        info = open_case(
            s, ws, "ivan", "2024-17", [p1, p2, p1], found_at="2024-05-17", place="Izium, forest"
        )
    assert [p.original_name for p in info.photos] == ["a.jpg", "b.png"]  # duplicate kept once
    import hashlib

    for original, stored in zip([p1, p2], info.photos, strict=True):
        copy = ws.media_dir / stored.stored_path
        assert copy.read_bytes() == original.read_bytes()
        assert stored.sha256 == hashlib.sha256(original.read_bytes()).hexdigest()
        assert not copy.stat().st_mode & stat.S_IWUSR  # read-only copy
    assert info.state is CaseState.OPEN
    with ws.session() as s:
        actions = [e.action for e in audit.entries(s, case="2024-17")]
    assert actions == ["case.open", "case.photo", "case.photo"]


def test_custody_check_notices_a_changed_copy(ws: Workspace, tmp_path: Path) -> None:
    with ws.session() as s:
        info = open_case(s, ws, "ivan", "C1", [photo(tmp_path / "a.jpg")])
    copy = ws.media_dir / info.photos[0].stored_path
    with ws.session() as s:
        assert all(c.ok for c in verify_custody(s, ws, "C1"))
    copy.chmod(0o644)
    copy.write_bytes(copy.read_bytes() + b"\0")
    with ws.session() as s:
        assert [c.ok for c in verify_custody(s, ws, "C1")] == [False]


def test_open_refuses_bad_input(ws: Workspace, tmp_path: Path) -> None:
    good = photo(tmp_path / "a.jpg")
    bad = tmp_path / "not.jpg"
    bad.write_bytes(b"this is not an image")
    with ws.session() as s, pytest.raises(UnreadableImage):
        open_case(s, ws, "ivan", "C2", [bad])
    with ws.session() as s, pytest.raises(InputError, match="ISO date"):
        open_case(s, ws, "ivan", "C3", [good], found_at="last tuesday")
    with ws.session() as s:
        open_case(s, ws, "ivan", "C4", [good])
    with ws.session() as s, pytest.raises(InputError, match="already exists"):
        open_case(s, ws, "ivan", "C4", [good])
    with ws.session() as s:
        with pytest.raises(PermissionDenied, match="no acting user"):
            open_case(s, ws, None, "C5", [good])
        with pytest.raises(PermissionDenied, match="unknown user"):
            open_case(s, ws, "mallory", "C5", [good])


def test_search_moves_case_and_is_stored(ws: Workspace, tmp_path: Path) -> None:
    with ws.session() as s:
        info = open_case(s, ws, "ivan", "C1", [photo(tmp_path / "a.jpg")])
    stored = ws.media_dir / info.photos[0].stored_path
    with ws.session() as s:
        search = attach_search(
            s,
            ws,
            "ivan",
            "C1",
            result(
                [stored], [candidate(1, "olena", 0.91, "match"), candidate(2, "x", 0.5, "no match")]
            ),
        )
    assert [c.account for c in search.candidates] == ["olena", "x"]
    assert search.probe_faces[0].photo == info.photos[0].stored_path
    assert search.probe_faces[0].sha256 == info.photos[0].sha256
    with ws.session() as s:
        shown = view_case(s, "ivan", "C1")
        assert shown.state is CaseState.SEARCHED and shown.searches[0].run_by == "ivan"
        kinds = [e.action for e in audit.entries(s, case="C1")]
    assert kinds[-3:] == ["search", "case.state", "case.view"]


def test_illegal_transitions_are_refused(ws: Workspace, tmp_path: Path) -> None:
    with ws.session() as s:
        open_case(s, ws, "ivan", "C1", [photo(tmp_path / "a.jpg")])
    with ws.session() as s:
        case = get_case(s, "C1")
        for target in (CaseState.IDENTIFIED, CaseState.NOTIFIED, CaseState.UNDER_REVIEW):
            with pytest.raises(CaseStateError, match="cannot become"):
                transition(s, case, target, "ivan")
    with ws.session() as s:
        close_case(s, "rita", "C1", reason="duplicate of C0")
    with ws.session() as s, pytest.raises(CaseStateError, match="closed"):
        attach_search(s, ws, "ivan", "C1", result([], []))
    # Every state can be left only along the table, and closed is final.
    assert TRANSITIONS[CaseState.CLOSED] == frozenset()
    assert CaseState.NOTIFIED not in TRANSITIONS[CaseState.SEARCHED]


def test_identify_without_case_opens_one(ws: Workspace, tmp_path: Path) -> None:
    fake = FakeIdentify([candidate(1, "olena", 0.9, "match")])
    p = photo(tmp_path / "body.jpg")
    out = identify_for_case(ws, "ivan", None, [p], service=fake)
    assert out.opened and out.case_number.startswith("AUTO-")
    # The search ran on the workspace copy, not on the file the user pointed at.
    assert fake.calls[0][0].is_relative_to(ws.media_dir)
    again = identify_for_case(ws, "ivan", out.case_number, [], service=fake)
    assert not again.opened and again.case_number == out.case_number
    with ws.session() as s:
        info = view_case(s, "ivan", out.case_number)
        assert len(info.searches) == 2 and info.state is CaseState.SEARCHED
        assert [c.number for c in list_cases(s, "ivan")] == [out.case_number]


def test_identify_with_new_case_number_and_no_face(ws: Workspace, tmp_path: Path) -> None:
    class NoFace:
        def identify(self, photos: list[Path], top: int = 10) -> object:
            raise NoFaceFound("no face at any rotation", tried=["0°", "90°"])

    with pytest.raises(NoFaceFound):
        identify_for_case(ws, "ivan", "K9", [photo(tmp_path / "a.jpg")], service=NoFace())
    with ws.session() as s:
        info = view_case(s, "ivan", "K9")
        assert info.state is CaseState.OPEN and len(info.photos) == 1
        failed = [e for e in audit.entries(s, case="K9") if e.action == "search"]
    assert failed and failed[0].details["error"] == "no face found"


def test_photos_are_decoded_before_the_case_takes_the_write_lock(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding a large upload takes seconds: no other user's write may wait for it."""
    import sqlite3

    import nextofkin.cases.custody as service

    if ws.engine.dialect.name != "sqlite":
        pytest.skip("the write lock that queues other users is SQLite's")
    real_decode = service.decode_image
    lock_free: list[bool] = []

    def decode_and_probe(*args: object, **kwargs: object) -> object:
        other = sqlite3.connect(ws.home / "nextofkin.db", timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once if a writer holds the lock
            other.rollback()
            lock_free.append(True)
        except sqlite3.OperationalError:
            lock_free.append(False)
        finally:
            other.close()
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "decode_image", decode_and_probe)
    with ws.session() as s:
        open_case(s, ws, "ivan", "C-LOCK", [photo(tmp_path / "a.jpg")])
    with ws.session() as s:
        service.add_photos(s, ws, "ivan", "C-LOCK", [photo(tmp_path / "b.jpg", seed=2)])
    assert lock_free == [True, True], "a photo was decoded while the case held the write lock"
