"""A body identified from the gallery and linked to an inquiry: both must name the same person.

Whether gallery account X and inquiry Y's missing person are one person only a reviewer can say,
so while one stands the other is confirmed only as corroborating it (migration 0018), in either
order; the database refuses what the service would refuse.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cases.casework import candidate, photo, result
from inquiries.inquirywork import VectorAnalyser
from inquiries.test_inquiries import POLICY, _linked, faces, team  # noqa: F401 - fixtures
from nextofkin.cases.inquiry_records import InquiryLink, InquiryLinkDecision
from nextofkin.cases.records import CaseDecision, Identification
from nextofkin.cases.review import Verdict, review
from nextofkin.cases.service import attach_search
from nextofkin.cli import build_app
from nextofkin.errors import InputError, PolicyViolation
from nextofkin.inquiries.review import review_link
from nextofkin.notify.inquirers import draft_for_inquirer
from nextofkin.notify.records import OutboxMessage
from nextofkin.workspace import Workspace


def _searched(ws: Workspace, tmp_path: Path) -> None:
    """K-1's search listed vk/olena (match) and vk/petro; letters can be written."""
    ws.settings.notify.team_name = "Identification Team North"
    ws.settings.notify.team_phone = "+380 44 000 00 00"
    p = photo(tmp_path / "probe.jpg")
    found = [candidate(11, "olena", 0.93, "match"), candidate(12, "petro", 0.91, "match")]
    with ws.session() as s:
        attach_search(s, ws, "ivan", "K-1", result([p], found))


@pytest.fixture
def link(team: Workspace, tmp_path: Path, faces: VectorAnalyser) -> int:  # noqa: F811
    """Case K-1 linked (proposed) to an inquiry and searched: the link's id."""
    _, link = _linked(team, tmp_path, faces)
    _searched(team, tmp_path)
    return link


def _confirm_link(ws: Workspace, link: int) -> None:
    with ws.session() as s:
        review_link(s, POLICY, "rita", link, Verdict.CONFIRM)


def _identity_past_the_service(s: Session, case_id: int) -> CaseDecision:
    """A confirmation and an identification of vk/olena written directly, as no service would."""
    decision = CaseDecision(
        case_id=case_id, account_ref="vk/olena", decision="confirm", reviewer="rob"
    )
    s.add(decision)
    s.flush()
    s.add(
        Identification(
            case_id=case_id,
            account_ref="vk/olena",
            state="confirmed",
            decision_id=decision.id,
            reviewers=["rob"],
        )
    )
    s.flush()
    return decision


def _identification(ws: Workspace) -> Identification:
    with ws.session() as s:
        row = s.scalars(select(Identification).where(Identification.state == "confirmed")).one()
        s.expunge(row)
        return row


def test_link_after_identification_must_corroborate_it(
    team: Workspace,  # noqa: F811
    link: int,
) -> None:
    with team.session() as s:
        review(s, POLICY, "rita", "K-1", "olena", Verdict.CONFIRM)
    ident = _identification(team)
    with team.session() as s, pytest.raises(PolicyViolation) as refused:
        review_link(s, POLICY, "rob", link, Verdict.CONFIRM)
    said = str(refused.value)
    assert f"--corroborates {ident.id}" in said and "vk/olena" in said and "reject" in said
    with team.session() as s, pytest.raises(PolicyViolation, match="is not it"):
        review_link(s, POLICY, "rob", link, Verdict.CONFIRM, corroborates=ident.id + 100)
    with team.session() as s, pytest.raises(InputError, match="only a confirmation"):
        review_link(s, POLICY, "rob", link, Verdict.REJECT, corroborates=ident.id)
    with team.session() as s:
        assert s.get_one(InquiryLink, link).state == "proposed"
        out = review_link(s, POLICY, "rob", link, Verdict.CONFIRM, corroborates=ident.id)
    assert out.state == "confirmed"
    with team.session() as s:
        decision = s.scalars(select(InquiryLinkDecision)).one()
        assert decision.corroborates_identification_id == ident.id


def test_identification_after_link_must_corroborate_it(
    team: Workspace,  # noqa: F811
    link: int,
) -> None:
    _confirm_link(team, link)
    with team.session() as s, pytest.raises(PolicyViolation) as refused:
        review(s, POLICY, "rob", "K-1", "olena", Verdict.CONFIRM)
    said = str(refused.value)
    assert f"--corroborates {link}" in said and f"inquiry review {link} --reject" in said
    with team.session() as s:
        assert s.scalars(select(Identification)).all() == []
        out = review(s, POLICY, "rob", "K-1", "olena", Verdict.CONFIRM, corroborates=link)
    assert out.identified
    # Rejecting the corroborated link voids the letters of the case like any later decision.
    with team.session() as s:
        draft_for_inquirer(s, team, "ivan", "K-1")
    with team.session() as s:
        review(s, POLICY, "rita", "K-1", "olena", Verdict.REJECT, reason="not him")
    with team.session() as s:
        assert [r.state for r in s.scalars(select(OutboxMessage))] == ["void"]
    # The link stands alone again: the next identification corroborates it or is refused.
    with team.session() as s, pytest.raises(PolicyViolation, match="corroborat"):
        review(s, POLICY, "rob", "K-1", "petro", Verdict.CONFIRM)


def test_the_database_refuses_an_uncorroborated_second_identity(
    team: Workspace,  # noqa: F811
    link: int,
) -> None:
    _confirm_link(team, link)
    with team.session() as s:
        case_id = s.get_one(InquiryLink, link).case_id
    # Past the service: a decision and an identification written directly.
    with pytest.raises(DBAPIError, match="must corroborate"), team.session() as s:
        _identity_past_the_service(s, case_id)
    # A decision names only a confirmed link of its own case, and only when it confirms.
    for verdict, named in (("confirm", link + 100), ("reject", link)):
        with pytest.raises(DBAPIError, match="corroborates only"), team.session() as s:
            s.add(
                CaseDecision(
                    case_id=case_id,
                    account_ref="vk/olena",
                    decision=verdict,
                    reviewer="rob",
                    corroborates_link_id=named,
                )
            )
            s.flush()


def test_no_letter_while_identities_disagree(
    team: Workspace,  # noqa: F811
    link: int,
) -> None:
    """Data from before 0018 may hold two unreconciled identities: no letter goes out then."""
    _confirm_link(team, link)
    with team.session() as s:
        draft_for_inquirer(s, team, "ivan", "K-1")
    guard = "identification_corroborates_link"
    drop = f"DROP TRIGGER {guard}"
    if team.engine.dialect.name == "postgresql":
        drop += " ON case_identifications"
    with team.session() as s:
        s.execute(text(drop))  # as if the rows were written before 0018
        decision = _identity_past_the_service(s, s.get_one(InquiryLink, link).case_id)
        # The case decision voided the draft; the link is still confirmed: redraft under it.
        s.execute(text("UPDATE outbox SET decision_id = :d"), {"d": decision.id})
    with pytest.raises(DBAPIError, match="do not corroborate"), team.session() as s:
        s.execute(text("UPDATE outbox SET state = 'approved'"))


def test_the_cli_states_the_corroboration(
    team: Workspace,  # noqa: F811
    link: int,
) -> None:

    def run(user: str, *args: str) -> tuple[int, str]:
        home = ["--workspace", str(team.home), "--user", user]
        out = CliRunner().invoke(build_app(), [*home, *args])
        return out.exit_code, out.output

    assert run("rita", "review", "K-1", "--confirm", "olena")[0] == 0
    with team.session() as s:
        ident = s.scalars(select(Identification.id)).one()
    code, said = run("rob", "inquiry", "review", str(link), "--confirm")
    assert code != 0 and "--corroborates" in said and str(ident) in said
    code, said = run(
        "rob", "inquiry", "review", str(link), "--confirm", "--corroborates", f"{ident}"
    )
    assert code == 0, said
    with team.session() as s:
        assert s.get_one(InquiryLink, link).state == "confirmed"
