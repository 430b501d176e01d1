"""Many bodies at once (issue 16 #3): ``case import`` from a folder or a CSV, in one process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cases.casework import FakeIdentify, add_team, candidate, photo
from nextofkin import audit
from nextofkin.cases.batch import Identifier, import_cases, read_source
from nextofkin.cases.service import case_info
from nextofkin.cli import build_app
from nextofkin.errors import InputError, NoFaceFound, PermissionDenied
from nextofkin.identify.search import SearchResult
from nextofkin.workspace import Workspace


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    with workspace.session() as s:
        add_team(s)
    return workspace


class Counting:
    """A service factory that counts how many services (model loads) a run makes."""

    def __init__(self, service: Identifier) -> None:
        self.service = service
        self.made = 0

    def __call__(self, _workspace: Workspace) -> Identifier:
        self.made += 1
        return self.service


def fake() -> FakeIdentify:
    return FakeIdentify([candidate(1, "olena", 0.91, "match"), candidate(2, "petro", 0.5, "none")])


def folder_batch(root: Path, n: int = 3) -> Path:
    """``root/K-1 .. K-n``, two photos each, ``case.json`` on the first."""
    for i in range(1, n + 1):
        photo(root / f"K-{i}" / "a.jpg", seed=10 * i)
        photo(root / f"K-{i}" / "b.png", seed=10 * i + 1)
    (root / "K-1" / "case.json").write_text(
        json.dumps({"found_at": "2024-05-17", "place": "Izium, forest", "notes": "unit 3"})
    )
    (root / "K-1" / "notes.txt").write_text("not a photo")
    return root


def test_folder_layout_parsed(tmp_path: Path) -> None:
    root = folder_batch(tmp_path / "batch")
    (root / "EMPTY").mkdir()
    layout, cases = read_source(root)
    assert layout == "folder"
    assert [c.number for c in cases] == ["EMPTY", "K-1", "K-2", "K-3"]
    k1 = cases[1]
    assert [p.name for p in k1.photos] == ["a.jpg", "b.png"]  # notes.txt and case.json left out
    assert (k1.found_at, k1.place, k1.notes) == ("2024-05-17", "Izium, forest", "unit 3")
    assert cases[0].problem is not None and "no image" in cases[0].problem


def test_csv_layout_parsed(tmp_path: Path) -> None:
    photo(tmp_path / "p" / "a.jpg", seed=1)
    photo(tmp_path / "p" / "b.jpg", seed=2)
    sheet = tmp_path / "cases.csv"
    sheet.write_text(
        "case_number,photos,found_at,place\n"
        'C-1,p/a.jpg; p/b.jpg,2024-05-17,"Izium, forest"\n'
        "C-2,p/b.jpg,,\n"
        "C-1,p/a.jpg,,\n"
        "C-3,,,\n"
    )
    layout, cases = read_source(sheet)
    assert layout == "csv"
    c1, c2, again, c3 = cases
    assert c1.photos == (tmp_path / "p" / "a.jpg", tmp_path / "p" / "b.jpg")
    assert (c1.found_at, c1.place, c1.problem) == ("2024-05-17", "Izium, forest", None)
    assert (c2.found_at, c2.place, c2.problem) == (None, None, None)
    assert again.problem is not None and "more than once" in again.problem
    assert c3.problem is not None and "no photos" in c3.problem


def test_csv_without_the_header_is_refused(tmp_path: Path) -> None:
    sheet = tmp_path / "cases.csv"
    sheet.write_text("C-1,a.jpg,2024-05-17,Izium\n")
    with pytest.raises(InputError, match="header must name case_number,photos,found_at,place"):
        read_source(sheet)


def test_a_bad_case_does_not_stop_the_others(ws: Workspace, tmp_path: Path) -> None:
    root = folder_batch(tmp_path / "batch", n=2)
    (root / "BROKEN").mkdir()
    (root / "BROKEN" / "x.jpg").write_bytes(b"not an image")
    photo(root / "NOFACE" / "a.jpg", seed=3)

    class NoFaceFor(FakeIdentify):
        def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
            if len(photos) == 1:  # the NOFACE case is the only one with a single photo
                raise NoFaceFound("a.jpg: no face found", tried=["rotations"])
            return super().identify(photos, top)

    service = NoFaceFor([candidate(1, "olena", 0.91, "match")])
    report = import_cases(ws, "ivan", root, service_factory=Counting(service))
    by = {o.number: o for o in report.outcomes}
    assert list(by) == ["BROKEN", "K-1", "K-2", "NOFACE"]
    assert by["BROKEN"].error_kind == "UnreadableImage" and by["BROKEN"].state is None
    assert by["NOFACE"].error_kind == "NoFaceFound" and by["NOFACE"].opened
    assert by["NOFACE"].state == "open"
    for number in ("K-1", "K-2"):
        assert by[number].searched and by[number].state == "searched"
        assert (by[number].top_candidate, by[number].decision) == ("vk/olena", "match")
    assert (report.opened, report.searched, report.failed) == (3, 2, 2)


def test_a_number_already_used_for_other_photos_is_reported(ws: Workspace, tmp_path: Path) -> None:
    root = folder_batch(tmp_path / "batch", n=2)
    import_cases(ws, "ivan", root, service_factory=Counting(fake()))
    photo(root / "K-2" / "c.jpg", seed=99)  # another body given the same number
    report = import_cases(ws, "ivan", root, service_factory=Counting(fake()))
    k2 = report.outcomes[1]
    assert k2.error_kind == "InputError" and "already exists with other photos" in (k2.error or "")
    assert report.outcomes[0].skipped == "already searched"


def test_a_rerun_opens_nothing_twice_and_searches_only_what_was_not_searched(
    ws: Workspace, tmp_path: Path
) -> None:
    root = folder_batch(tmp_path / "batch", n=3)
    # A killed run: K-1 opened and searched, K-2 opened only, K-3 never reached.
    first = fake()
    only = tmp_path / "first"
    only.mkdir()
    (only / "K-1").symlink_to(root / "K-1")
    import_cases(ws, "ivan", only, service_factory=Counting(first))
    with ws.session() as s:
        from nextofkin.cases.service import open_case

        open_case(s, ws, "ivan", "K-2", [root / "K-2" / "a.jpg", root / "K-2" / "b.png"])

    again = fake()
    report = import_cases(ws, "ivan", root, service_factory=Counting(again))
    by = {o.number: o for o in report.outcomes}
    assert [(by[n].opened, by[n].searched, by[n].skipped) for n in ("K-1", "K-2", "K-3")] == [
        (False, False, "already searched"),
        (False, True, None),
        (True, True, None),
    ]
    assert by["K-1"].top_candidate == "vk/olena"  # the skipped case still shows its result
    assert len(again.calls) == 2
    with ws.session() as s:
        assert len(case_info(s, "K-1").searches) == 1
        assert len(case_info(s, "K-2").photos) == 2  # not added again
        opens = [e for e in audit.entries(s) if e.action == "case.open"]
    assert sorted(e.case_number or "" for e in opens) == ["K-1", "K-2", "K-3"]

    third = fake()
    report = import_cases(ws, "ivan", root, research=True, service_factory=Counting(third))
    assert report.searched == 3 and report.opened == 0 and len(third.calls) == 3


def test_the_models_are_loaded_once_for_n_cases(ws: Workspace, tmp_path: Path) -> None:
    root = folder_batch(tmp_path / "batch", n=5)
    factory = Counting(fake())
    report = import_cases(ws, "ivan", root, service_factory=factory)
    assert report.searched == 5 and factory.made == 1
    rerun = Counting(fake())
    import_cases(ws, "ivan", root, service_factory=rerun)
    assert rerun.made == 0  # nothing left to search: no models loaded at all


def test_each_case_is_audited_as_a_single_case_would_be(ws: Workspace, tmp_path: Path) -> None:
    root = folder_batch(tmp_path / "batch", n=1)
    import_cases(ws, "ivan", root, service_factory=Counting(fake()))
    with ws.session() as s:
        actions = [e.action for e in audit.entries(s, case="K-1")]
        info = case_info(s, "K-1")
    assert actions == ["case.open", "case.photo", "case.photo", "search", "case.state"]
    assert (info.found_at, info.place, info.opened_by) == ("2024-05-17", "Izium, forest", "ivan")


def test_the_acting_user_needs_open_and_search(ws: Workspace, tmp_path: Path) -> None:
    root = folder_batch(tmp_path / "batch", n=1)
    for actor in (None, "nobody"):
        with pytest.raises(PermissionDenied):
            import_cases(ws, actor, root, service_factory=Counting(fake()))
    with ws.session() as s:
        assert not [e for e in audit.entries(s) if e.action == "case.open"]


def test_a_number_opened_by_another_run_meanwhile_is_reported(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import IntegrityError

    from nextofkin.cases import batch

    root = folder_batch(tmp_path / "batch", n=2)
    real = batch.open_case

    def racing(
        session: Any, workspace: Workspace, actor: str | None, number: str, *a: Any, **k: Any
    ) -> Any:
        if number == "K-1":
            raise IntegrityError("INSERT INTO cases", {}, Exception("UNIQUE constraint failed"))
        return real(session, workspace, actor, number, *a, **k)

    monkeypatch.setattr(batch, "open_case", racing)
    report = import_cases(ws, "ivan", root, service_factory=Counting(fake()))
    k1, k2 = report.outcomes
    assert k1.error is not None and "opened by another run" in k1.error
    assert k2.searched


def _cli(ws_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["-w", str(ws_dir), "--user", "ivan", *args])
    return result.exit_code, result.output


@pytest.mark.models
@pytest.mark.slow
def test_cli_case_import_end_to_end_with_the_real_models(tmp_path: Path) -> None:
    from matplotlib import cbook
    from skimage import data as skdata

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        grace = np.asarray(Image.open(handle).convert("RGB"))
    astronaut = skdata.astronaut()
    gallery = tmp_path / "gallery"
    for account, pixels in (("eileen", astronaut), ("grace", grace)):
        (gallery / account).mkdir(parents=True)
        Image.fromarray(pixels).save(gallery / account / "1.jpg", quality=95)
    batch = tmp_path / "batch"
    bodies = {
        "B-1": np.ascontiguousarray(astronaut[:, ::-1]),
        "B-2": np.ascontiguousarray(grace[:, ::-1]),
        "B-3": np.full((200, 200, 3), 90, dtype=np.uint8),  # no face
    }
    for number, pixels in bodies.items():
        (batch / number).mkdir(parents=True)
        Image.fromarray(pixels).save(batch / number / "body.jpg", quality=95)

    ws_dir = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(build_app(), ["-w", str(ws_dir), "user", "add", "ada", "--role", "admin"])
    code, out = _cli(ws_dir, "--user", "ada", "user", "add", "ivan", "--role", "investigator")
    assert code == 0, out
    code, out = _cli(ws_dir, "ingest", str(gallery), "-j", "1")
    assert code == 0, out

    code, out = _cli(ws_dir, "case", "import", str(batch), "--json")
    assert code == 0, out
    by = {o["number"]: o for o in json.loads(out)["outcomes"]}
    assert by["B-1"]["top_candidate"].endswith("/eileen") and by["B-1"]["state"] == "searched"
    assert by["B-2"]["top_candidate"].endswith("/grace")
    assert by["B-3"]["error_kind"] == "NoFaceFound" and by["B-3"]["state"] == "open"

    code, out = _cli(ws_dir, "case", "import", str(batch))
    assert code == 0, out
    assert "0 opened, 0 searched, 2 skipped, 1 failed" in " ".join(out.split())


def test_cli_csv_import_reports_a_missing_photo_and_exits_0(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nextofkin.identify.service.IdentifyService", lambda _ws: fake())
    photo(tmp_path / "p" / "a.jpg", seed=1)
    sheet = tmp_path / "cases.csv"
    sheet.write_text("case_number,photos,found_at,place\nC-1,p/a.jpg,,\nC-2,p/gone.jpg,,\n")
    code, out = _cli(ws.settings.home, "case", "import", str(sheet), "--json")
    assert code == 0, out
    c1, c2 = json.loads(out)["outcomes"]
    assert (c1["number"], c1["state"], c1["top_candidate"]) == ("C-1", "searched", "vk/olena")
    assert c2["number"] == "C-2" and "gone.jpg does not exist" in c2["error"]


def test_cli_import_exits_1_when_nothing_could_be_done(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out = _cli(ws.settings.home, "case", "import", str(tmp_path / "empty"))
    assert code == 1 and "no case found" in out
    (tmp_path / "bad" / "X-1").mkdir(parents=True)
    code, out = _cli(ws.settings.home, "case", "import", str(tmp_path / "bad"))
    assert code == 1 and "no image in" in " ".join(out.split())
    code, out = _cli(ws.settings.home, "case", "import", str(tmp_path / "nowhere"))
    assert code == 1 and "Error (InputError):" in out and "does not exist" in out
