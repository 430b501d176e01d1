"""The inquiry invariants under random sequences of filing, matching, review, letters and purge.

A hypothesis state machine drives intake users, reviewers and senders over two bodies' cases:
families file inquiries (for either body or for someone with no case), sweeps propose links,
reviewers confirm and reject them, letters to inquirers are drafted and sent to a real SMTP
server on loopback (whose handler checks each letter's link the moment its body arrives), and
families withdraw (purge). After every step:

* no letter ever reached an inquirer whose link was not confirmed, or was withdrawn, or had a
  later decision than the letter;
* at most one confirmed link per case and per inquiry;
* at most one delivery per (case, recipient);
* a case identified from the gallery and linked to an inquiry has the one confirmed as
  corroborating the other (never two unreconciled identities for one body), and no letter is
  delivered while they disagree;
* nothing of a purged inquiry is left: no row, no file, no photo hash or vector in any file of
  the workspace, no name or address in the outbox.

Faces are vectors chosen per photo (``VectorAnalyser``): the invariants are about records,
letters and files, not about face recognition.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from cases.casework import add_team, candidate, result
from inquiries.inquirywork import VectorAnalyser, calibration, inquirer, missing, near, unit
from nextofkin.cases.inquiry_records import Inquiry, InquiryLink, InquiryLinkDecision, InquiryPhoto
from nextofkin.cases.records import CaseDecision, Identification
from nextofkin.cases.review import review
from nextofkin.cases.service import attach_search, open_case
from nextofkin.errors import NextOfKinError
from nextofkin.inquiries import matching
from nextofkin.inquiries.purge import purge_inquiry
from nextofkin.inquiries.review import review_link
from nextofkin.inquiries.service import file_inquiry
from nextofkin.notify.inquirers import draft_for_inquirer
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.service import send
from nextofkin.settings import Settings
from nextofkin.users.service import add_user
from nextofkin.workspace import Workspace
from notify.smtpd import Handler, smtp_server, use_server
from purge_scan import describe_traces

EXAMPLES = int(os.environ.get("NEXTOFKIN_INQUIRY_EXAMPLES", "60"))
CASES = ["K-1", "K-2"]
# Who a family looks for: either body's person, or someone with no case.
PEOPLE = {"taras": unit(1), "oleh": unit(2), "nobody": unit(3)}
REVIEWERS = ["rita", "rob"]
# Gallery candidates every body's search lists (a body's gallery identity is the reviewers' call).
ACCOUNTS = ["olena", "petro"]
REACHED: Counter[str] = Counter()
_TEMPLATE: dict[str, Path] = {}


def template(root: Path) -> Path:
    """A migrated workspace with the team and intake users, made once."""
    if "home" not in _TEMPLATE:
        home = root / "template"
        ws = Workspace.open(Settings.load(home))
        try:
            with ws.session() as s:
                add_team(s)
                add_user(s, "ada", "ina", "intake")
        finally:
            ws.close()
        _TEMPLATE["home"] = home
    return _TEMPLATE["home"]


def disagreement(s: Any, case_id: int) -> str | None:
    """Whether case ``case_id``'s confirmed identification and link stand unreconciled."""
    ident = s.scalars(
        select(Identification).where(
            Identification.case_id == case_id, Identification.state == "confirmed"
        )
    ).one_or_none()
    link = s.scalars(
        select(InquiryLink).where(InquiryLink.case_id == case_id, InquiryLink.state == "confirmed")
    ).one_or_none()
    if ident is None or link is None:
        return None
    by_ident = s.get_one(CaseDecision, ident.decision_id).corroborates_link_id
    by_link = s.get_one(InquiryLinkDecision, link.decision_id).corroborates_identification_id
    if by_ident == link.id or by_link == ident.id:
        return None
    return f"identification {ident.id} and link {link.id} of case {case_id} disagree"


def link_problem(ws: Workspace, message_id: str) -> str | None:
    """Why the letter behind ``message_id`` should not be going out right now (None if fine)."""
    with ws.session() as s:
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.message_id == message_id)).one()
        disagree = disagreement(s, row.case_id)
        if disagree:
            return disagree
        link = s.get(InquiryLink, row.inquiry_link_id) if row.inquiry_link_id else None
        if link is None or link.state != "confirmed" or link.case_id != row.case_id:
            return f"link {row.inquiry_link_id} is not the case's confirmed link"
        newest = s.scalar(
            select(func.max(InquiryLinkDecision.id)).where(
                InquiryLinkDecision.case_id == row.case_id
            )
        )
        if (row.link_decision_id or 0) < (newest or 0):
            return f"written before link decision {newest}"
        if row.recipient_key != f"inquiry:{link.inquiry_id}":
            return "not addressed to the link's inquirer"
    return None


class CheckingHandler(Handler):
    """Records each letter and checks its link the moment the body arrives."""

    def __init__(self, ws: Workspace, log: list[tuple[str, str | None]]) -> None:
        super().__init__()
        self.ws = ws
        self.log = log

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        mail: Message = self.received[-1]
        message_id = str(mail["Message-ID"])
        self.log.append((message_id, link_problem(self.ws, message_id)))
        return reply


class InquiryMachine(RuleBasedStateMachine):
    """Families, intake, reviewers and a sender around two bodies."""

    root: Path

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[Callable[[], None]] = []

    @initialize(head_start=st.sampled_from(["none", "drafted", "drafted", "sent", "identified"]))
    def start(self, head_start: str) -> None:
        """Two bodies and two inquiries for taras; most sequences start with the first link
        confirmed and a letter drafted (or already sent), where letters begin; some with K-1
        identified from the gallery first and the link confirmed as corroborating it."""
        n = len(list(self.root.glob("run-*")))
        run = self.root / f"run-{n}"
        shutil.copytree(template(self.root), run / "ws")
        self.run = run
        settings_ = Settings.load(run / "ws")
        settings_.notify.team_name = "Identification Team North"
        settings_.notify.team_phone = "+380 44 000 00 00"
        settings_.notify.backoff_seconds = 0.0
        settings_.notify.max_attempts = 1
        self.ws = Workspace.open(settings_, migrate_schema=False)
        self.stack.append(self.ws.close)
        self.deliveries: list[tuple[str, str | None]] = []
        server_cm = smtp_server(run, handler=CheckingHandler(self.ws, self.deliveries))
        server = server_cm.__enter__()
        self.stack.append(lambda: server_cm.__exit__(None, None, None))
        use_server(self.ws, server.port)
        self.faces = VectorAnalyser()
        self.calibration = calibration()
        self.photos = 0
        self.purged: list[tuple[int, list[np.ndarray], list[str], list[bytes]]] = []
        for n, (number, person) in enumerate(zip(CASES, ("taras", "oleh"), strict=True)):
            path = self.faces.person_photo(run / f"{number}.jpg", 90 + n, PEOPLE[person])
            found = [candidate(11 + i, a, 0.93 - i / 100, "match") for i, a in enumerate(ACCOUNTS)]
            with self.ws.session() as s:
                open_case(s, self.ws, "ivan", number, [path])
                attach_search(s, self.ws, "ivan", number, result([path], found))
        # Two families ask about taras (a mother and a brother, say): sequences reach the hard
        # part, a letter written under one link while the other is confirmed, in a few steps.
        self.file("taras")
        self.file("taras")
        if head_start != "none":
            with self.ws.session() as s:
                link = s.scalars(select(InquiryLink.id)).first()
            if link is not None:
                ident = None
                if head_start == "identified":
                    with self.ws.session() as s:
                        review(s, self.ws.settings.review, "rob", "K-1", ACCOUNTS[0], "confirm")
                        ident = s.scalars(select(Identification.id)).one()
                with self.ws.session() as s:
                    policy = self.ws.settings.review
                    review_link(s, policy, "rita", link, "confirm", corroborates=ident)
                with self.ws.session() as s:
                    draft_for_inquirer(s, self.ws, "ivan", "K-1")
                if head_start == "sent":
                    send(self.ws, "rob", "K-1")

    def teardown(self) -> None:
        # What the sequence reached at any step: the test fails if runs never get there.
        for what in getattr(self, "seen", set()):
            REACHED[what] += 1
        while self.stack:
            self.stack.pop()()

    @invariant()
    def note_what_was_reached(self) -> None:
        if not hasattr(self, "ws"):
            return
        seen: set[str] = getattr(self, "seen", set())
        self.seen = seen
        if self.deliveries:
            seen.add("a letter delivered")
        if self.purged:
            seen.add("an inquiry purged")
        with self.ws.session() as s:
            seen |= {f"a letter {x}" for x in s.scalars(select(OutboxMessage.state).distinct())}
            seen |= {f"a link {x}" for x in s.scalars(select(InquiryLink.state).distinct())}
            if s.scalar(
                select(func.count()).where(InquiryLinkDecision.corroborates_identification_id > 0)
            ) or s.scalar(select(func.count()).where(CaseDecision.corroborates_link_id > 0)):
                seen.add("a corroboration")

    def quietly(self, work: Callable[[], object]) -> None:
        """Run an action a person may try at any time; refusals are the system working."""
        with suppress(NextOfKinError):
            work()

    @rule(person=st.sampled_from(sorted(PEOPLE)))
    def file(self, person: str) -> None:
        """A family files an inquiry with a photo of their person; a sweep follows."""
        self.photos += 1
        path = self.faces.person_photo(
            self.run / f"inq-{self.photos}.jpg", self.photos, near(PEOPLE[person], self.photos)
        )
        with self.ws.session() as s:
            inquiry_id = file_inquiry(s, self.ws, "ina", missing(person), inquirer(), [path])
        matching.match(
            self.ws,
            "ina",
            analyser=self.faces,
            calibration=self.calibration,
            inquiry_ids=[inquiry_id],
        )

    def _link(self, pick: int) -> int | None:
        with self.ws.session() as s:
            ids = list(s.scalars(select(InquiryLink.id).order_by(InquiryLink.id)))
        return ids[pick % len(ids)] if ids else None

    def _standing(self, case_id: int, what: str, row: str) -> int | None:
        """The id a reviewer states as corroborated: the standing one, a wrong one, or none."""
        if what == "none":
            return None
        with self.ws.session() as s:
            if row == "identification":
                ids = select(Identification.id).where(
                    Identification.case_id == case_id, Identification.state == "confirmed"
                )
            else:
                ids = select(InquiryLink.id).where(
                    InquiryLink.case_id == case_id, InquiryLink.state == "confirmed"
                )
            found = s.scalars(ids).one_or_none() or 0
        return found + 1 if what == "wrong" else found or None

    @rule(
        pick=st.integers(0, 5),
        reviewer=st.sampled_from(REVIEWERS),
        confirm=st.booleans(),
        corroborate=st.sampled_from(["none", "right", "right", "wrong"]),
    )
    def decide(self, pick: int, reviewer: str, confirm: bool, corroborate: str) -> None:
        link = self._link(pick)
        if link is None:
            return
        with self.ws.session() as s:
            case_id = s.get_one(InquiryLink, link).case_id
        stated = self._standing(case_id, corroborate, "identification") if confirm else None

        def work() -> None:
            with self.ws.session() as s:
                verdict = "confirm" if confirm else "reject"
                review_link(
                    s, self.ws.settings.review, reviewer, link, verdict, corroborates=stated
                )

        self.quietly(work)

    @rule(
        case=st.sampled_from([1, 2]),
        account=st.sampled_from(ACCOUNTS),
        reviewer=st.sampled_from(REVIEWERS),
        confirm=st.booleans(),
        corroborate=st.sampled_from(["none", "right", "right", "wrong"]),
    )
    def identify(
        self, case: int, account: str, reviewer: str, confirm: bool, corroborate: str
    ) -> None:
        """A reviewer decides on a gallery candidate of a body, stating a link or not."""
        stated = self._standing(case, corroborate, "link") if confirm else None
        verdict = "confirm" if confirm else "reject"

        def work() -> None:
            with self.ws.session() as s:
                review(
                    s,
                    self.ws.settings.review,
                    reviewer,
                    CASES[case - 1],
                    account,
                    verdict,
                    corroborates=stated,
                )

        self.quietly(work)

    @rule(first=st.sampled_from(REVIEWERS), second=st.sampled_from(REVIEWERS))
    def switch_link(self, first: str, second: str) -> None:
        """Reviewers decide a body is the other family's person: the confirmed link of K-1 is
        rejected and another link of K-1 confirmed (the hard case for a letter already written)."""
        with self.ws.session() as s:
            links = list(
                s.scalars(
                    select(InquiryLink).where(InquiryLink.case_id == 1).order_by(InquiryLink.id)
                )
            )
            current = next((lk.id for lk in links if lk.state == "confirmed"), None)
            others = [lk.id for lk in links if lk.state != "confirmed"]
        if current is None or not others:
            return
        policy = self.ws.settings.review

        def reject() -> None:
            with self.ws.session() as s:
                review_link(s, policy, first, current, "reject")

        def confirm() -> None:
            with self.ws.session() as s:
                review_link(s, policy, second, others[0], "confirm")

        self.quietly(reject)
        self.quietly(confirm)

    @rule(number=st.sampled_from(CASES))
    def write_letter(self, number: str) -> None:
        def work() -> None:
            with self.ws.session() as s:
                draft_for_inquirer(s, self.ws, "ivan", number)

        self.quietly(work)

    @rule(number=st.sampled_from(CASES), reviewer=st.sampled_from(REVIEWERS))
    def send_letters(self, number: str, reviewer: str) -> None:
        self.quietly(lambda: send(self.ws, reviewer, number))

    @rule(pick=st.integers(0, 5))
    def withdraw(self, pick: int) -> None:
        """A family withdraws: what must be gone is noted first, then the inquiry is purged."""
        with self.ws.session() as s:
            ids = list(s.scalars(select(Inquiry.id).order_by(Inquiry.id)))
            if not ids:
                return
            inquiry_id = ids[pick % len(ids)]
            rows = list(
                s.scalars(select(InquiryPhoto).where(InquiryPhoto.inquiry_id == inquiry_id))
            )
            vectors = [r.embedding for r in rows if r.embedding is not None]
            hashes = [r.sha256 for r in rows]
            contents = [(self.ws.media_dir / r.stored_path).read_bytes() for r in rows]
        purge_inquiry(self.ws, "ada", inquiry_id)
        self.purged.append((inquiry_id, vectors, hashes, contents))

    @invariant()
    def letters_only_through_a_confirmed_link(self) -> None:
        if hasattr(self, "deliveries"):
            assert [p for _, p in self.deliveries if p] == []

    @invariant()
    def at_most_one_letter_per_case_and_recipient(self) -> None:
        if hasattr(self, "deliveries"):
            ids = [m for m, _ in self.deliveries]
            assert len(ids) == len(set(ids))

    @invariant()
    def one_confirmed_link_per_case_and_per_inquiry(self) -> None:
        if not hasattr(self, "ws"):
            return
        with self.ws.session() as s:
            confirmed = s.execute(
                select(InquiryLink.case_id, InquiryLink.inquiry_id).where(
                    InquiryLink.state == "confirmed"
                )
            ).all()
        assert len({c for c, _ in confirmed}) == len(confirmed)
        assert len({i for _, i in confirmed}) == len(confirmed)

    @invariant()
    def never_two_unreconciled_identities_for_one_body(self) -> None:
        if not hasattr(self, "ws"):
            return
        with self.ws.session() as s:
            assert [disagreement(s, case_id) for case_id in (1, 2)] == [None, None]

    @invariant()
    def nothing_of_a_withdrawn_inquiry_is_left(self) -> None:
        if not getattr(self, "purged", None):
            return
        gone = [i for i, *_ in self.purged]
        with self.ws.session() as s:
            assert s.scalar(select(func.count()).where(Inquiry.id.in_(gone))) == 0
            assert s.scalar(select(func.count()).where(InquiryPhoto.inquiry_id.in_(gone))) == 0
            assert s.scalar(select(func.count()).where(InquiryLink.inquiry_id.in_(gone))) == 0
            keys = [f"inquiry:{i}" for i in gone]
            letters = s.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient_key.in_(keys))
            ).all()
            assert all(r.address is None and r.recipient_name is None for r in letters)
        for inquiry_id in gone:
            assert not (self.ws.media_dir / "inquiries" / str(inquiry_id)).exists()
        vectors = [v for _, vs, _, _ in self.purged for v in vs]
        hashes = [h for _, _, hs, _ in self.purged for h in hs]
        contents = [c for _, _, _, cs in self.purged for c in cs]
        if self.ws.engine.dialect.name == "sqlite":
            assert describe_traces(self.ws.home, vectors, hashes, contents) == []


def test_inquiry_invariants_hold_under_random_sequences(tmp_path: Path) -> None:
    InquiryMachine.root = tmp_path
    REACHED.clear()
    run_state_machine_as_test(
        InquiryMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("inquiry sequences reached:", dict(sorted(REACHED.items())))
    for needed in (
        "a letter delivered",
        "a letter void",
        "an inquiry purged",
        "a link withdrawn",
        "a link confirmed",
        "a corroboration",
    ):
        assert REACHED[needed], f"no sequence reached: {needed}"
