"""Keep a case's probe for its standing search, each time a search is attached to the case.

Called by :func:`nextofkin.cases.service.attach_search` in the same transaction as the search, so
a case that was searched always has the probe its next rescan compares new faces against. It
imports only tables, so the case service can call it without a cycle.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from nextofkin.cases.standing_records import CaseProbe
from nextofkin.db import utcnow

if TYPE_CHECKING:
    from nextofkin.identify.search import SearchResult

# Decisions that show a candidate to the team: such an account is not news to a later rescan.
SHOWN = ("match", "possible")


def remember_probe(session: Session, case_id: int, search_id: int, result: SearchResult) -> None:
    """Store (or replace) the probe of ``case_id`` from the search just attached.

    A newer search replaces the probe: the team may have added photos, which changes the fused
    vector. The watermark becomes the highest face id of the index the search ran against; the
    best FPIR is the search's top candidate's. A result without a probe vector (made outside
    :class:`~nextofkin.identify.search.Searcher`) leaves the case without a standing search.
    """
    if result.probe_vector is None or result.watermark is None:
        return
    best = min(result.candidates, key=lambda c: c.fpir, default=None)
    best_fpir = best.fpir if best is not None and not math.isnan(best.fpir) else None
    presented = sorted({c.account_id for c in result.candidates if c.decision in SHOWN})
    probe = session.get(CaseProbe, case_id)
    if probe is None:
        probe = CaseProbe(case_id=case_id)
        session.add(probe)
    else:
        # Accounts shown by earlier searches of the case stay shown.
        presented = sorted(set(presented) | set(probe.presented or []))
    probe.search_id = search_id
    probe.model = result.model
    probe.vector = np.asarray(result.probe_vector, dtype=np.float32)
    probe.watermark = result.watermark
    probe.best_fpir = best_fpir
    probe.best_account_id = best.account_id if best is not None else None
    probe.presented = presented
    probe.updated_at = utcnow()
