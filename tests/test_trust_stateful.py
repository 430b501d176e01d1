"""The trust invariants under random sequences of ordinary actions and faults (issue 12).

A hypothesis state machine drives a team through ingest, search, confirm, reject, draft, send
(through the services and through the REST API, chosen at random per step), purge, re-ingest,
a sender killed before or after the message body went out, and the honest check a person makes
of an uncertain message afterwards. Mail goes to a real SMTP server on loopback, whose handler
checks, the moment a body arrives, that the message was written for the case's current
identification. After every step:

* no message ever left for an identification that was not the case's current one;
* at most one confirmed identification per case, and the case names it;
* at most one message delivered per (case, recipient);
* nothing purged is retrievable: not in the database, the vector index, the media routes, nor any
  file of the workspace (its vectors' bytes and its photos' hashes and contents are looked for);
* the audit chain verifies.

The gallery is synthetic (vectors written straight into the records, photos written as files):
the invariants are about records, messages and files, not about face recognition.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import Message
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from PIL import Image as PILImage
from sqlalchemy import func, select, update

from cases.casework import add_team, candidate, photo, result
from gallery_rows import add_posted_face
from nextofkin import audit
from nextofkin.cases.purge import purge_account
from nextofkin.cases.records import Case, CaseDecision, Identification
from nextofkin.cases.review import review
from nextofkin.cases.service import attach_search, open_case
from nextofkin.errors import NextOfKinError
from nextofkin.gallery.index import FaissIndex
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.records import Account, Face, Source
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.service import OutboxState, draft, mark_sent, outbox, release, send
from nextofkin.notify.smtp import DeliveryReceipt, OutgoingMessage, SmtpChannel
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace
from notify.smtpd import Handler, smtp_server, use_server
from purge_scan import describe_traces

PEOPLE = ["anna", "boris", "clara", "dmytro"]
CASES = ["C1", "C2"]
# C1 is drawn three times as often: sequences reach letters sooner, C2 keeps cases apart.
CASE = st.sampled_from(["C1", "C1", "C1", "C2"])
REVIEWERS = ["rita", "rob"]
SEARCHERS = ["ivan", "rita", "rob"]
TEAM_NAME = "Identification Team North"
EXAMPLES = int(os.environ.get("NEXTOFKIN_TRUST_EXAMPLES", "200"))


class Killed(BaseException):
    """The sending process dies (a BaseException, as SIGKILL leaves no handler to run)."""


@dataclass
class Delivery:
    """One message as the SMTP server received it, with what was current at that moment."""

    case: str
    recipient: str
    message_id: str
    stale: str | None  # why the binding was not current when the body arrived, or None


@dataclass
class Person:
    """A gallery person as the test wrote them (one generation per ingest)."""

    account_id: int
    face_ids: list[int]
    vectors: list[np.ndarray]
    hashes: list[str]
    contents: list[bytes]


@dataclass
class Purged:
    """What a purge must have removed."""

    face_ids: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    contents: list[bytes] = field(default_factory=list)


def binding_problem(ws: Workspace, message_id: str) -> str | None:
    """Why the outbox row behind ``message_id`` is not bound to its case's current
    identification right now (None when it is)."""
    with ws.session() as s:
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.message_id == message_id)).one()
        current = s.scalars(
            select(Identification).where(
                Identification.case_id == row.case_id, Identification.state == "confirmed"
            )
        ).one_or_none()
        if current is None:
            return "the case has no confirmed identification"
        if row.identification_id != current.id:
            return f"written for identification {row.identification_id}, current {current.id}"
        newest = s.scalar(
            select(func.max(CaseDecision.id)).where(CaseDecision.case_id == row.case_id)
        )
        if (row.decision_id or 0) < (newest or 0):
            return f"written before decision {newest}"
        if row.recipient_key == f"account:{current.account_ref}":
            return "sent to the identified person's own account"
        person = s.get(Account, current.account_id) if current.account_id else None
        if person is not None and person.name and person.name not in row.body:
            return f"the letter does not name {person.name}"
    return None


class CheckingHandler(Handler):
    """The loopback server's handler: records each body and checks its binding on arrival."""

    def __init__(self, ws: Workspace, log: list[Delivery]) -> None:
        super().__init__()
        self.ws = ws
        self.log = log

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        mail: Message = self.received[-1]
        message_id = str(mail["Message-ID"])
        with self.ws.session() as s:
            row = s.scalars(
                select(OutboxMessage).where(OutboxMessage.message_id == message_id)
            ).one()
            case = s.get_one(Case, row.case_id).number
            recipient = row.recipient_key
        self.log.append(Delivery(case, recipient, message_id, binding_problem(self.ws, message_id)))
        return reply


class KillingTransport:
    """SMTP that dies before the body goes out, or right after the server accepted it."""

    channel = "email"

    def __init__(self, inner: SmtpChannel, after_body: bool) -> None:
        self.inner = inner
        self.after_body = after_body

    def deliver(self, message: OutgoingMessage) -> DeliveryReceipt:
        if self.after_body:
            self.inner.deliver(message)
        raise Killed


def dead_owner() -> str:
    """A `sending` claim's owner token naming a process of this host that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}"


_TEMPLATE: dict[str, Path] = {}
REACHED: Counter[str] = Counter()


def template(root: Path) -> Path:
    """A migrated workspace with the team, the source and an empty index, made once."""
    if "home" not in _TEMPLATE:
        home = root / "template"
        ws = Workspace.open(Settings.load(home))
        try:
            with ws.session() as s:
                add_team(s)
                s.add(Source(name="vk", root=str(root / "export"), layout="folder"))
            FaissIndex.create(ws.index_dir, embedder_spec(ws)).save()
        finally:
            ws.close()
        _TEMPLATE["home"] = home
    return _TEMPLATE["home"]


class TrustMachine(RuleBasedStateMachine):
    """A team working on two cases against a five-person gallery, with faults."""

    root: Path

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[Callable[[], None]] = []

    @initialize(head_start=st.booleans())
    def start(self, head_start: bool) -> None:
        """A fresh workspace; half the sequences start where letters begin."""
        n = len(list(self.root.glob("run-*")))
        run = self.root / f"run-{n}"
        shutil.copytree(template(self.root), run / "ws")
        self.export = run / "export"
        settings_ = Settings.load(run / "ws")
        settings_.notify.team_name = TEAM_NAME
        settings_.notify.team_phone = "+380 44 000 00 00"
        settings_.notify.backoff_seconds = 0.0
        settings_.notify.max_attempts = 1
        self.ws = Workspace.open(settings_, migrate_schema=False)
        self.stack.append(self.ws.close)
        self.deliveries: list[Delivery] = []
        server_cm = smtp_server(run, handler=CheckingHandler(self.ws, self.deliveries))
        server = server_cm.__enter__()
        self.stack.append(lambda: server_cm.__exit__(None, None, None))
        use_server(self.ws, server.port)
        self.people: dict[str, Person] = {}
        self.generation: dict[str, int] = dict.fromkeys(PEOPLE, 0)
        self.purged = Purged()
        self.api = api_clients(self.ws)
        self.stack.append(self.api.close)
        with self.ws.session() as s:
            for number in CASES:
                open_case(s, self.ws, "ivan", number, [photo(run / f"{number}.jpg", seed=7)])
        # Three people arrive with the first ingest and ivan searches both cases, so that
        # short sequences reach the letters.
        for name in PEOPLE[:3]:
            self.ingest(name)
        for number in CASES:
            self.search(number, "ivan", PEOPLE[:3])
        if head_start:
            self._head_start()

    def _head_start(self) -> None:
        """C1 identified as anna (by rita) and a draft to boris: where letters begin."""
        with self.ws.session() as s:
            review(s, self.ws.settings.review, "rita", "C1", "vk/anna", "confirm")
        with self.ws.session() as s:
            draft(s, self.ws, "ivan", "C1", ["vk/boris"])

    def teardown(self) -> None:
        if hasattr(self, "deliveries"):
            # What the sequences reached: the test fails if they never reach the hard parts.
            if self.deliveries:
                REACHED["a message delivered"] += 1
            if self.purged.face_ids:
                REACHED["a person purged"] += 1
            with self.ws.session() as s:
                for state in s.scalars(select(OutboxMessage.state).distinct()):
                    REACHED[f"a message {state}"] += 1
                withdrawn = select(func.count()).where(Identification.state == "withdrawn")
                if s.scalar(withdrawn):
                    REACHED["an identification withdrawn"] += 1
        while self.stack:
            self.stack.pop()()

    # ---- actions ----------------------------------------------------------------------------

    @rule(name=st.sampled_from(PEOPLE))
    def ingest(self, name: str) -> None:
        """The person's account arrives (again, after a purge: new photos, new faces)."""
        if name in self.people:
            return
        self.generation[name] += 1
        self.people[name] = insert_person(self.ws, self.export, name, self.generation[name])

    @rule(
        number=CASE,
        user=st.sampled_from(SEARCHERS),
        names=st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=3, unique=True),
    )
    def search(self, number: str, user: str, names: list[str]) -> None:
        """A search of the case lists some of the people now in the gallery."""
        present = [n for n in names if n in self.people]
        if not present:
            return
        found = [
            candidate(self.people[n].account_id, n, 0.95 - 0.05 * k, "match")
            for k, n in enumerate(present)
        ]
        self.quietly(
            lambda: self.in_session(
                lambda s: attach_search(s, self.ws, user, number, result([], found))
            )
        )

    @rule(
        number=CASE,
        reviewer=st.sampled_from(REVIEWERS),
        name=st.sampled_from(PEOPLE),
        verdict=st.sampled_from(["confirm", "confirm", "reject"]),
        via_api=st.booleans(),
    )
    def decide(self, number: str, reviewer: str, name: str, verdict: str, via_api: bool) -> None:
        """A reviewer confirms or rejects a candidate."""
        if via_api:
            self.api.post(
                reviewer,
                f"/api/cases/{number}/review",
                {"account": f"vk/{name}", "verdict": verdict},
            )
            return
        self.quietly(
            lambda: self.in_session(
                lambda s: review(
                    s, self.ws.settings.review, reviewer, number, f"vk/{name}", verdict
                )
            )
        )

    @rule(
        number=CASE,
        names=st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=2, unique=True),
        via_api=st.booleans(),
    )
    def write_draft(self, number: str, names: list[str], via_api: bool) -> None:
        """An investigator drafts messages to people of the gallery."""
        to = [f"vk/{n}" for n in names]
        if via_api:
            self.api.post("ivan", "/api/notify/drafts", {"case": number, "to": to})
            return
        self.quietly(lambda: self.in_session(lambda s: draft(s, self.ws, "ivan", number, to)))

    @rule(
        number=CASE,
        reviewer=st.sampled_from(REVIEWERS),
        via_api=st.booleans(),
    )
    def send_all(self, number: str, reviewer: str, via_api: bool) -> None:
        """A reviewer approves and sends the case's drafts."""
        if via_api:
            self.api.post(reviewer, "/api/notify/send", {"case": number})
            return
        self.quietly(lambda: send(self.ws, reviewer, number))

    @rule(number=CASE, after_body=st.booleans())
    def send_and_die(self, number: str, after_body: bool) -> None:
        """The sending process is killed before, or just after, the server took the body."""
        transport = KillingTransport(SmtpChannel(self.ws.settings.smtp), after_body)
        try:
            self.quietly(lambda: send(self.ws, "rita", number, transport=transport))
        except Killed:
            # The process is gone: its claims now name a dead process.
            with self.ws.session() as s:
                s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.state == OutboxState.SENDING.value)
                    .values(owner=dead_owner())
                )

    @rule(number=CASE)
    def check_uncertain(self, number: str) -> None:
        """A person checks the mail server's log for each uncertain message, and records it."""
        delivered = {d.message_id for d in self.deliveries}
        with self.ws.session() as s:
            messages = outbox(s, "rita", number)  # flags abandoned claims as uncertain
        for m in messages:
            if m.state is not OutboxState.UNCERTAIN:
                continue
            to = m.recipient.removeprefix("account:")
            if m.message_id in delivered:
                self.quietly(partial(mark_sent, self.ws, "rita", number, to, "in the relay log"))
            else:
                self.quietly(partial(release, self.ws, "rita", number, to, "not in the relay log"))

    @rule(name=st.sampled_from(PEOPLE))
    def purge(self, name: str) -> None:
        """An admin purges the person's account (a family asked, or the data must go)."""
        person = self.people.pop(name, None)
        if person is None:
            return
        purge_account(self.ws, "ada", f"vk/{name}")
        self.purged.face_ids += person.face_ids
        self.purged.vectors += person.vectors
        self.purged.hashes += person.hashes
        self.purged.contents += person.contents

    # ---- invariants -------------------------------------------------------------------------

    @invariant()
    def messages_only_for_the_current_identification(self) -> None:
        stale = [d for d in getattr(self, "deliveries", []) if d.stale]
        assert not stale, stale

    @invariant()
    def at_most_one_message_per_case_and_recipient(self) -> None:
        seen = [(d.case, d.recipient) for d in getattr(self, "deliveries", [])]
        assert len(seen) == len(set(seen)), seen

    @invariant()
    def one_identity_per_body(self) -> None:
        if not hasattr(self, "ws"):
            return
        with self.ws.session() as s:
            for case in s.scalars(select(Case)):
                current = s.scalars(
                    select(Identification).where(
                        Identification.case_id == case.id, Identification.state == "confirmed"
                    )
                ).all()
                assert len(current) <= 1
                assert case.identified_ref == (current[0].account_ref if current else None)

    @invariant()
    def nothing_purged_is_retrievable(self) -> None:
        if not hasattr(self, "ws") or not self.purged.face_ids:
            return
        gone = set(self.purged.face_ids)
        with self.ws.session() as s:
            assert not s.scalars(select(Face.id).where(Face.id.in_(gone))).all()
        index = open_index(self.ws)
        assert not gone & set(index.ids().tolist())
        if len(index):
            _, ids = index.search(np.stack(self.purged.vectors), min(5, len(index)))
            assert not gone & set(ids.ravel().tolist())
        for face_id in sorted(gone)[-2:]:
            assert self.api.get("rita", f"/media/faces/{face_id}.jpg") == 404
        traces = describe_traces(
            self.ws.home, self.purged.vectors, self.purged.hashes, self.purged.contents
        )
        assert traces == [], traces

    @invariant()
    def audit_chain_verifies(self) -> None:
        if not hasattr(self, "ws"):
            return
        with self.ws.session() as s:
            assert audit.verify(s).ok

    # ---- helpers ----------------------------------------------------------------------------

    def in_session(self, work: Callable[[Any], object]) -> None:
        with self.ws.session() as s:
            work(s)

    def quietly(self, work: Callable[[], object]) -> None:
        """Run an action a user may be refused: a refusal is one of the domain's own errors."""
        with suppress(NextOfKinError):
            work()


def insert_person(ws: Workspace, export: Path, name: str, generation: int) -> Person:
    """An account with two photos of one face each, written as the ingest would leave them."""
    spec = embedder_spec(ws)
    rng = np.random.default_rng(abs(hash((name, generation))) % 2**32)
    centre = rng.standard_normal(spec.dim)
    person = Person(0, [], [], [], [])
    with ws.session() as s:
        source = s.scalars(select(Source)).one()
        account = Account(
            source_id=source.id,
            external_id=name,
            name=name.title(),
            contacts={"email": f"{name}@example.org"},
            friends=[],
            extra={},
            roles_dirty=False,
        )
        s.add(account)
        s.flush()
        person.account_id = account.id
        for k in range(2):
            path = export / name / f"g{generation}-{k}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # unique content
            PILImage.fromarray(pixels).save(path, quality=90)
            vector = centre + 0.3 * rng.standard_normal(spec.dim)
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            posted = add_posted_face(
                s, account, path, vector, model=spec.name, alignment=spec.alignment
            )
            content = path.read_bytes()
            person.face_ids.append(posted.face)
            person.vectors.append(vector)
            person.hashes.append(hashlib.sha256(content).hexdigest())
            person.contents.append(content)
    index = open_index(ws)
    index.add(np.array(person.face_ids, dtype=np.int64), np.stack(person.vectors))
    index.save()
    return person


class ApiClients:
    """One bearer token per user against one app: ``post``/``get`` return the status code and
    fail the test on any 5xx (a refusal is a 4xx in the one error shape)."""

    def __init__(self, client: Any, tokens: dict[str, str], closing: Iterator[None]) -> None:
        self.client = client
        self.tokens = tokens
        self.closing = closing

    def _check(self, response: Any) -> int:
        assert response.status_code < 500, response.text
        return int(response.status_code)

    def post(self, user: str, path: str, body: dict[str, Any]) -> int:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        return self._check(self.client.post(path, json=body, headers=headers))

    def get(self, user: str, path: str) -> int:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        return self._check(self.client.get(path, headers=headers))

    def close(self) -> None:
        next(self.closing, None)


def api_clients(ws: Workspace) -> ApiClients:
    """The web app on the machine's workspace, with a token for each member of the team."""
    from fastapi.testclient import TestClient

    from nextofkin.users.tokens import create_token
    from nextofkin.web.app import create_app
    from nextofkin.web.config import WebConfig

    with ws.session() as s:
        tokens = {u: create_token(s, u, u, "stateful").token for u in ("ivan", *REVIEWERS)}
    app = create_app(ws.settings, WebConfig(load_models=False), identifier=lambda _ws: _no_engine())

    @contextmanager
    def running() -> Iterator[Any]:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            yield client

    cm = running()
    client = cm.__enter__()

    def closing() -> Iterator[None]:
        cm.__exit__(None, None, None)
        yield

    return ApiClients(client, tokens, closing())


def _no_engine() -> Any:
    raise AssertionError("the stateful test searches through attach_search, not the engine")


@pytest.mark.slow
def test_trust_invariants_hold_under_random_sequences(tmp_path: Path) -> None:
    TrustMachine.root = tmp_path
    REACHED.clear()
    run_state_machine_as_test(
        TrustMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("trust sequences reached:", dict(sorted(REACHED.items())))
    # An invariant that no sequence put to the test proves nothing: the runs must get there.
    for needed in (
        "a message delivered",
        "a message sent",
        "a message void",
        "a message uncertain",
        "a person purged",
        "an identification withdrawn",
    ):
        assert REACHED[needed], f"no sequence reached: {needed}"
