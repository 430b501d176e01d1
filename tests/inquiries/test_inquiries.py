"""Inquiries: consent, matching against cases, review of links, role scoping and purge."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

import purge_scan
from cases.casework import add_team
from inquiries.inquirywork import VectorAnalyser, calibration, inquirer, missing, near, unit
from nextofkin.cases.inquiry_records import Inquiry, InquiryLink, InquiryPhoto
from nextofkin.cases.review import Verdict
from nextofkin.cases.service import open_case
from nextofkin.errors import InputError, NotFound, PermissionDenied, PolicyViolation
from nextofkin.inquiries import matching
from nextofkin.inquiries.purge import purge_inquiry
from nextofkin.inquiries.review import review_link
from nextofkin.inquiries.service import add_photos, file_inquiry, list_inquiries, view_inquiry
from nextofkin.settings import ReviewPolicy
from nextofkin.users.service import add_user
from nextofkin.workspace import Workspace

POLICY = ReviewPolicy()


@pytest.fixture
def team(workspace: Workspace) -> Workspace:
    with workspace.session() as s:
        add_team(s)
        add_user(s, "ada", "ina", "intake")
        add_user(s, "ada", "ira", "intake")
    return workspace


@pytest.fixture
def faces() -> VectorAnalyser:
    return VectorAnalyser()


def open_body(ws: Workspace, tmp: Path, faces: VectorAnalyser, number: str, v: np.ndarray) -> None:
    """Case ``number`` with one post-mortem photo whose face is ``v``."""
    seed = sum(map(ord, number))
    path = faces.person_photo(tmp / f"case-{number}.jpg", seed=seed, vector=v)
    with ws.session() as s:
        open_case(s, ws, "ivan", number, [path])


def file(
    ws: Workspace, tmp: Path, faces: VectorAnalyser, who: str, v: np.ndarray, seed: int
) -> int:
    """An inquiry by ``who`` with one family photo whose face is ``v``."""
    path = faces.person_photo(tmp / f"inq-{seed}.jpg", seed=seed, vector=v)
    with ws.session() as s:
        return file_inquiry(s, ws, who, missing(), inquirer(), [path])


def sweep(ws: Workspace, faces: VectorAnalyser, actor: str = "ivan") -> matching.SweepReport:
    return matching.match(ws, actor, analyser=faces, calibration=calibration())


def test_an_inquiry_needs_consent_and_a_way_to_reach_the_family(team: Workspace) -> None:
    with team.session() as s, pytest.raises(PolicyViolation, match="consent"):
        file_inquiry(s, team, "ina", missing(), inquirer(consent=False))
    no_contact = dataclasses.replace(inquirer(email=None), phone=None)
    with team.session() as s, pytest.raises(InputError, match="way to reach"):
        file_inquiry(s, team, "ina", missing(), no_contact)
    # The database itself refuses an inquiry row without consent, whatever code writes it.
    with pytest.raises(DBAPIError), team.session() as s:
        s.add(
            Inquiry(
                missing_name="x",
                inquirer_name="y",
                inquirer_relation="z",
                consent=False,
                filed_by="ina",
            )
        )
        s.flush()


def test_the_person_with_a_case_is_linked_and_a_stranger_is_not(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    taras, stranger = unit(1), unit(2)
    open_body(team, tmp_path, faces, "K-1", taras)
    open_body(team, tmp_path, faces, "K-2", unit(3))
    mine = file(team, tmp_path, faces, "ina", near(taras, 1), seed=11)
    other = file(team, tmp_path, faces, "ina", stranger, seed=12)
    report = sweep(team, faces)
    assert (report.inquiries, report.cases, len(report.new_links)) == (2, 2, 1)
    with team.session() as s:
        info = view_inquiry(s, "ina", mine)
        assert [(lk.case_number, lk.state, lk.decision) for lk in info.links] == [
            ("K-1", "proposed", "match")
        ]
        assert "against one of these 2 cases" in info.links[0].meaning
        assert info.links[0].evidence["pairs"][0]["similarity"] > 0.9
        assert view_inquiry(s, "ina", other).links == []
    # A second sweep analyses nothing again and proposes nothing twice.
    calls = faces.calls
    again = sweep(team, faces)
    assert (again.new_links, faces.calls) == ([], calls)


def test_a_case_opened_later_is_matched_against_waiting_inquiries(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    taras = unit(1)
    mine = file(team, tmp_path, faces, "ina", near(taras, 1), seed=11)
    open_body(team, tmp_path, faces, "K-9", unit(9))
    assert sweep(team, faces).new_links == []
    open_body(team, tmp_path, faces, "K-10", near(taras, 2))
    report = matching.match(
        team, "ivan", analyser=faces, calibration=calibration(), case_numbers=["K-10"]
    )
    assert len(report.new_links) == 1
    with team.session() as s:
        assert [lk.case_number for lk in view_inquiry(s, "ina", mine).links] == ["K-10"]


def test_intake_sees_only_its_own_inquiries(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    mine = file(team, tmp_path, faces, "ina", unit(1), seed=11)
    theirs = file(team, tmp_path, faces, "ira", unit(2), seed=12)
    with team.session() as s:
        assert [i.id for i in list_inquiries(s, "ina")] == [mine]
        assert {i.id for i in list_inquiries(s, "ivan")} == {mine, theirs}
        with pytest.raises(NotFound):
            view_inquiry(s, "ina", theirs)
        with pytest.raises(NotFound):
            add_photos(s, team, "ina", theirs, [tmp_path / "inq-11.jpg"])
    with pytest.raises(NotFound):
        purge_inquiry(team, "ina", theirs)
    with pytest.raises(PermissionDenied):
        purge_inquiry(team, "ivan", theirs)  # investigators see it but may not purge it


def _linked(team: Workspace, tmp_path: Path, faces: VectorAnalyser) -> tuple[int, int]:
    taras = unit(1)
    open_body(team, tmp_path, faces, "K-1", taras)
    inquiry = file(team, tmp_path, faces, "ina", near(taras, 1), seed=11)
    (link,) = sweep(team, faces).new_links
    return inquiry, link


def test_link_review_follows_the_identification_rules(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    inquiry, link = _linked(team, tmp_path, faces)
    with team.session() as s, pytest.raises(PermissionDenied):
        review_link(s, POLICY, "ivan", link, Verdict.CONFIRM)  # investigators do not decide
    with team.session() as s:
        add_user(s, "ada", "rex", "reviewer")
    with team.session() as s:
        out = review_link(s, POLICY, "rita", link, Verdict.CONFIRM, reason="scar matches")
        assert (out.state, out.confirmations, out.needed) == ("confirmed", ["rita"], 1)
    with team.session() as s, pytest.raises(PolicyViolation, match="already confirmed"):
        review_link(s, POLICY, "rob", link, Verdict.CONFIRM)
    # A second inquiry for the same body cannot be confirmed while the first link stands.
    second = file(team, tmp_path, faces, "ina", near(unit(1), 3), seed=13)
    sweep(team, faces)
    with team.session() as s:
        other = s.scalars(select(InquiryLink.id).where(InquiryLink.inquiry_id == second)).one()
    with team.session() as s, pytest.raises(PolicyViolation, match="one body"):
        review_link(s, POLICY, "rob", other, Verdict.CONFIRM)
    with team.session() as s:
        assert review_link(s, POLICY, "rob", link, Verdict.REJECT).state == "withdrawn"
    with team.session() as s:
        assert review_link(s, POLICY, "rob", other, Verdict.CONFIRM).state == "confirmed"
    assert inquiry != second


def test_the_filer_cannot_confirm_and_possible_links_need_two_reviewers(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    _, link = _linked(team, tmp_path, faces)
    with team.session() as s:
        s.execute(text("UPDATE inquiry_links SET decision = 'possible' WHERE id = :i"), {"i": link})
        s.execute(text("UPDATE inquiries SET filed_by = 'rita'"))
    with team.session() as s, pytest.raises(PolicyViolation, match="filed inquiry"):
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)
    with team.session() as s:
        add_user(s, "ada", "rex", "reviewer")
    with team.session() as s:
        assert review_link(s, POLICY, "rob", link, Verdict.CONFIRM).state == "proposed"
    with team.session() as s:
        assert review_link(s, POLICY, "rex", link, Verdict.CONFIRM).state == "confirmed"


def test_the_database_allows_one_confirmed_link_per_case_and_none_without_a_decision(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    _, link = _linked(team, tmp_path, faces)
    file(team, tmp_path, faces, "ina", near(unit(1), 4), seed=14)
    sweep(team, faces)
    with pytest.raises(DBAPIError, match="recorded confirming decision"), team.session() as s:
        s.execute(text("UPDATE inquiry_links SET state = 'confirmed' WHERE id = :i"), {"i": link})
    with team.session() as s:
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)
        decision = s.scalars(select(InquiryLink.decision_id).where(InquiryLink.id == link)).one()
    with pytest.raises(DBAPIError), team.session() as s:
        # Even with a decision id to point at, the unique index keeps one confirmed link per case.
        s.execute(
            text(
                "INSERT INTO inquiry_link_decisions (link_id, case_id, decision, reviewer, at) "
                "SELECT id, case_id, 'confirm', 'rob', '2026-01-01' FROM inquiry_links "
                "WHERE id <> :i"
            ),
            {"i": link},
        )
        s.execute(
            text(
                "UPDATE inquiry_links SET state = 'confirmed', decision_id = "
                "(SELECT max(id) FROM inquiry_link_decisions) WHERE id <> :i"
            ),
            {"i": link},
        )
    assert decision is not None


def test_purge_leaves_nothing_of_the_inquiry(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    inquiry, link = _linked(team, tmp_path, faces)
    with team.session() as s:
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)
        rows = list(s.scalars(select(InquiryPhoto).where(InquiryPhoto.inquiry_id == inquiry)))
        vectors = [r.embedding for r in rows if r.embedding is not None]
        hashes = [r.sha256 for r in rows]
        contents = [(team.media_dir / r.stored_path).read_bytes() for r in rows]
    assert vectors and hashes
    report = purge_inquiry(team, "ina", inquiry)  # the intake user who filed it, for the family
    assert (report.photos, report.faces, report.links) == (1, 1, 1)
    with team.session() as s:
        assert s.get(Inquiry, inquiry) is None
        assert s.scalars(select(InquiryLink)).all() == []
        name_left = s.execute(
            text("SELECT count(*) FROM audit_log WHERE details LIKE '%Bondar%'")
        ).scalar()
        assert name_left == 0
    with team.session() as s, pytest.raises(NotFound):
        view_inquiry(s, "ivan", inquiry)
    if team.engine.dialect.name == "sqlite":
        traces = purge_scan.describe_traces(team.home, vectors, hashes, contents)
        assert traces == []
        blob = b"".join(p.read_bytes() for p in team.home.rglob("*") if p.is_file())
        assert b"Halyna" not in blob and b"mother@example.org" not in blob


def test_the_case_report_lists_its_links_and_a_purge_deletes_it(
    team: Workspace, tmp_path: Path, faces: VectorAnalyser
) -> None:
    from nextofkin.reports import write_report

    inquiry, link = _linked(team, tmp_path, faces)
    with team.session() as s:
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)
    report = write_report(team, "ivan", "K-1", "html")
    html = report.read_text(encoding="utf-8")
    assert "Missing-person inquiries" in html and "confirmed" in html and "rita" in html
    purge_inquiry(team, "ada", inquiry)
    assert not report.exists()
