"""The append-only, hash-chained audit log.

Every module records what it does with one call, inside the same transaction as the action itself
(so an action and its record commit or roll back together)::

    from nextofkin import audit
    audit.record(session, actor, audit.Action.SEARCH, "case:17", {"candidates": 5}, case="17")

``nextofkin audit verify`` recomputes the chain and says where it breaks.
"""

from __future__ import annotations

from nextofkin.audit.service import (
    GENESIS,
    Action,
    AuditEntryView,
    VerifyProblem,
    VerifyReport,
    entries,
    head,
    record,
    verify,
)

__all__ = [
    "GENESIS",
    "Action",
    "AuditEntryView",
    "VerifyProblem",
    "VerifyReport",
    "entries",
    "head",
    "record",
    "verify",
]
