"""API: the audit log and its verification."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Query

from nextofkin import audit
from nextofkin.errors import InputError
from nextofkin.i18n import gettext
from nextofkin.web.deps import Auditor, StateDep

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[audit.AuditEntryView], summary="Audit entries")
def entries(
    state: StateDep,
    actor: Auditor,
    case: str | None = Query(None, max_length=100),
    subject: str | None = Query(None, max_length=400, description="subject prefix"),
    last: int = Query(200, ge=1, le=10000, description="the newest N entries"),
) -> list[audit.AuditEntryView]:
    """The newest entries in chain order (optionally of one case or subject)."""
    with state.db() as session:
        return audit.entries(session, case=case, subject_prefix=subject, limit=last)


@dataclass(frozen=True)
class Verification:
    """The outcome of recomputing the chain."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problems: list[audit.VerifyProblem]


@router.get("/verify", response_model=Verification, summary="Verify the hash chain")
def verify(
    state: StateDep,
    actor: Auditor,
    anchor: str | None = Query(None, description="SEQ:HASH written down earlier"),
) -> Verification:
    """Recompute the whole chain; ``ok`` is false and ``problems`` says where if it is broken."""
    pinned: tuple[int, str] | None = None
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise InputError(
                gettext("anchor takes SEQ:HASH (as verify reports head_seq:head_hash)")
            )
        pinned = (int(seq), digest.lower())
    with state.db() as session:
        report = audit.verify(session, anchor=pinned)
    return Verification(
        report.ok, report.checked, report.head_seq, report.head_hash, report.problems
    )
