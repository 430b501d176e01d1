"""Record actions and verify the chain.

Entry *n* stores ``hash_n = sha256(hash_{n-1} + "\\n" + canonical_json(entry_n))`` where the
canonical JSON holds the sequence number, time, actor, action, subject, case and details, with
sorted keys and no insignificant whitespace. Editing an entry changes its hash; deleting or moving
one breaks the link of the entry after it or leaves a gap in the sequence; deleting entries from the
end is caught by the head row, and against someone who rewrites the head too, by comparing with
a head written down elsewhere (``verify --anchor SEQ:HASH``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from pathlib import PurePath
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nextofkin.audit.records import AuditEntry, AuditHead
from nextofkin.errors import AuditIntegrityError
from nextofkin.i18n import _

log = logging.getLogger(__name__)

GENESIS = "0" * 64


class Action(StrEnum):
    """The actions the audit log knows by name.

    Call sites name a member, never a string; a package may keep its own ``StrEnum`` of actions
    (as inquiries do), which :func:`record` takes too.
    """

    USER_ADD = "user.add"
    USER_UPDATE = "user.update"
    CASE_OPEN = "case.open"
    CASE_PHOTO = "case.photo"
    CASE_STATE = "case.state"
    CASE_VIEW = "case.view"
    CASE_REPORT = "case.report"
    SEARCH = "search"
    REVIEW_CONFIRM = "review.confirm"
    REVIEW_REJECT = "review.reject"
    IDENTIFICATION_CONFIRM = "identification.confirm"
    IDENTIFICATION_WITHDRAW = "identification.withdraw"
    NOTIFY_DRAFT = "notify.draft"
    NOTIFY_APPROVE = "notify.approve"
    NOTIFY_SENDING = "notify.sending"
    NOTIFY_SENT = "notify.sent"
    NOTIFY_RETRY = "notify.retry"
    NOTIFY_FAILED = "notify.failed"
    NOTIFY_UNCERTAIN = "notify.uncertain"
    NOTIFY_RELEASE = "notify.release"
    NOTIFY_MARK_SENT = "notify.mark_sent"
    PURGE = "purge"
    PURGE_FILES = "purge.files"
    KIN_VIEW = "kin.view"
    ACCOUNT_VIEW = "account.view"
    INGEST_START = "ingest.start"
    INGEST_DONE = "ingest.done"
    REINDEX = "reindex"
    CALIBRATE = "calibrate"
    WEB_LOGIN = "web.login"
    WEB_LOGIN_FAILED = "web.login_failed"
    WEB_LOGIN_LOCKED = "web.login_locked"
    WEB_LOGOUT = "web.logout"
    WEB_TOKEN_CREATE = "web.token_create"  # noqa: S105 - an audit action name, not a secret
    WEB_TOKEN_REVOKE = "web.token_revoke"  # noqa: S105 - an audit action name, not a secret
    CASE_RESCAN = "case.rescan"
    ALERT_RAISE = "alert.raise"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    ALERT_MAIL = "alert.mail"


@dataclass(frozen=True)
class AuditEntryView:
    """One audit entry as read back."""

    seq: int
    at: str
    actor: str | None
    action: str
    subject: str
    case_number: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyProblem:
    """Where and how the chain is broken."""

    seq: int
    kind: str  # edited | missing | relinked | truncated | anchor
    message: str


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`."""

    checked: int
    head_seq: int
    head_hash: str
    problems: list[VerifyProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _jsonable(value: Any) -> Any:
    """``value`` with dates, paths, enums, sets and tuples turned into plain JSON values."""
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot record {type(value).__name__} in the audit log")


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` that is hashed: sorted keys, compact, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(
    prev_hash: str,
    seq: int,
    at: str,
    actor: str | None,
    action: str,
    subject: str,
    case_number: str | None,
    details: str,
) -> str:
    """The chain hash of one entry (``details`` is its canonical JSON text)."""
    body = canonical_json(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "case": case_number,
            "details": json.loads(details),
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(
    session: Session,
    actor: str | None,
    action: StrEnum,
    subject: str,
    details: Mapping[str, Any] | None = None,
    *,
    case: str | None = None,
) -> AuditEntryView:
    """Append one entry to the log in ``session``'s transaction and return it.

    The entry commits with the caller's transaction, so an action and its record are never
    separated. Appends serialise on the head row: the first statement is an UPDATE of that row,
    which takes the write lock (SQLite) or the row lock (PostgreSQL) before the head is read.
    """
    action_name = action.value
    details_text = canonical_json(_jsonable(dict(details or {})))
    locked = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq)
    ).rowcount  # type: ignore[attr-defined]
    if locked != 1:
        raise AuditIntegrityError(
            _("the audit head row is missing: the workspace was tampered with")
        )
    head_row = session.execute(
        select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one()
    seq = head_row.seq + 1
    prev_hash = head_row.hash
    at = _now_text()
    digest = entry_hash(prev_hash, seq, at, actor, action_name, subject, case, details_text)
    session.add(
        AuditEntry(
            seq=seq,
            at=at,
            actor=actor,
            action=action_name,
            subject=subject,
            case_number=case,
            details=details_text,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    head_row.seq = seq
    head_row.hash = digest
    session.flush()
    log.debug("audit %d %s %s by %s", seq, action, subject, actor)
    return AuditEntryView(
        seq, at, actor, action, subject, case, json.loads(details_text), prev_hash, digest
    )


def _view(entry: AuditEntry) -> AuditEntryView:
    try:
        details = json.loads(entry.details)
    except ValueError:
        details = {"unreadable": entry.details}
    return AuditEntryView(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        subject=entry.subject,
        case_number=entry.case_number,
        details=details if isinstance(details, dict) else {"value": details},
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def entries(
    session: Session,
    *,
    case: str | None = None,
    subject_prefix: str | None = None,
    limit: int | None = None,
) -> list[AuditEntryView]:
    """Entries in order, optionally only one case's (or those whose subject starts a prefix).

    With ``limit``, the newest ``limit`` entries, still in chain order.
    """
    query = select(AuditEntry)
    if case is not None:
        query = query.where(AuditEntry.case_number == case)
    if subject_prefix is not None:
        query = query.where(AuditEntry.subject.startswith(subject_prefix, autoescape=True))
    if limit is not None:
        rows = list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit)))
        rows.reverse()
    else:
        rows = list(session.scalars(query.order_by(AuditEntry.seq)))
    return [_view(r) for r in rows]


def head(session: Session) -> tuple[int, str]:
    """The newest entry's sequence number and hash, as the head row records them."""
    row = session.get(AuditHead, 1)
    if row is None:
        raise AuditIntegrityError(_("the audit head row is missing"))
    return row.seq, row.hash


@dataclass(frozen=True)
class _RawEntry:
    """An entry exactly as stored (details as text), for hashing."""

    seq: int
    at: str
    actor: str | None
    action: str
    subject: str
    case_number: str | None
    details: str
    prev_hash: str
    hash: str


def _iter_entries(session: Session, batch: int = 2000) -> Iterator[_RawEntry]:
    """Every entry in sequence order, read in batches as plain rows (not kept in the session)."""
    columns = [getattr(AuditEntry, f) for f in _RawEntry.__dataclass_fields__]
    last = 0
    while True:
        rows = session.execute(
            select(*columns).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _RawEntry(*row)
        last = rows[-1][0]


def verify(session: Session, *, anchor: tuple[int, str] | None = None) -> VerifyReport:
    """Recompute the whole chain and report every place where it is broken.

    Finds edited entries (content no longer matches the hash), deleted or inserted ones (a gap in
    the sequence, or a link to a hash that is not the previous entry's), moved ones (both), and
    entries cut from the end (the head row names a later entry). ``anchor`` is a (seq, hash) pair
    written down earlier: the entry ``seq`` must still carry that hash.
    """
    problems: list[VerifyProblem] = []
    prev_hash = GENESIS
    checked = 0
    last_seq = 0
    anchor_seen = False
    for entry in _iter_entries(session):
        checked += 1
        problems += _link_problems(entry, last_seq + 1, prev_hash, last_seq)
        if anchor is not None and entry.seq == anchor[0]:
            anchor_seen = True
            if entry.hash != anchor[1]:
                problems.append(
                    VerifyProblem(
                        entry.seq,
                        "anchor",
                        _("entry %(seq)s is not the anchored entry", seq=entry.seq),
                    )
                )
        prev_hash = entry.hash
        last_seq = entry.seq
    head_seq, head_hash, at_head = _head_problems(session, last_seq, prev_hash)
    problems += at_head
    if anchor is not None and not anchor_seen:
        problems.append(
            VerifyProblem(
                anchor[0],
                "anchor",
                _("anchored entry %(anchor)s is not in the log", anchor=anchor[0]),
            )
        )
    if problems:
        log.warning("audit chain broken: %s", problems[0].message)
    return VerifyReport(checked=checked, head_seq=head_seq, head_hash=head_hash, problems=problems)


def _hash_holds(entry: _RawEntry) -> bool:
    """Whether the entry's content still gives its stored hash (an unreadable one does not)."""
    try:
        recomputed = entry_hash(
            entry.prev_hash,
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.subject,
            entry.case_number,
            entry.details,
        )
    except ValueError:
        return False
    return recomputed == entry.hash


def _link_problems(
    entry: _RawEntry, expected: int, prev_hash: str, last_seq: int
) -> list[VerifyProblem]:
    """What is wrong with one entry: a gap before it, a broken link to the previous entry, a
    content that no longer matches its hash."""
    problems: list[VerifyProblem] = []
    if entry.seq > expected:
        missing = (
            _("entry %(seq)s", seq=expected)
            if entry.seq == expected + 1
            else _("entries %(first)s-%(last)s", first=expected, last=entry.seq - 1)
        )
        problems.append(
            VerifyProblem(
                entry.seq,
                "missing",
                _("%(missing)s missing before entry %(seq)s", missing=missing, seq=entry.seq),
            )
        )
    if entry.prev_hash != prev_hash:
        before = _("entry %(seq)s", seq=last_seq) if last_seq else _("the start of the log")
        problems.append(
            VerifyProblem(
                entry.seq,
                "relinked",
                _(
                    "entry %(seq)s does not follow %(before)s: its previous-hash is not "
                    "that entry's hash (an entry was deleted, inserted or moved here)",
                    seq=entry.seq,
                    before=before,
                ),
            )
        )
    if not _hash_holds(entry):
        problems.append(
            VerifyProblem(
                entry.seq,
                "edited",
                _(
                    "entry %(seq)s (%(action)s %(subject)s) does not match its hash: it "
                    "was edited or moved",
                    seq=entry.seq,
                    action=entry.action,
                    subject=entry.subject,
                ),
            )
        )
    return problems


def _head_problems(
    session: Session, last_seq: int, last_hash: str
) -> tuple[int, str, list[VerifyProblem]]:
    """The head row's (seq, hash), and whether the log still ends where the head says."""
    problems: list[VerifyProblem] = []
    head_row = session.get(AuditHead, 1)
    head_seq, head_hash = (head_row.seq, head_row.hash) if head_row else (-1, "")
    if head_row is None:
        problems.append(VerifyProblem(0, "truncated", _("the audit head row is missing")))
    elif (head_seq, head_hash) != (last_seq, last_hash):
        problems.append(
            VerifyProblem(
                last_seq + 1,
                "truncated",
                _(
                    "the log ends at entry %(last_seq)s but its head names entry "
                    "%(head_seq)s: entries were deleted from the end (or the head was "
                    "altered)",
                    last_seq=last_seq,
                    head_seq=head_seq,
                ),
            )
        )
    return head_seq, head_hash, problems
