"""``nextofkin calibrate``: measure impostor scores against a workspace's gallery, store thresholds.

Two sources of impostor searches, both against the workspace's real index with the product's own
account scoring, so the thresholds hold for the gallery as it is:

* the gallery's own owners, leave-one-account-out (what every ingest does automatically);
* photos of people known to have no account: the non-mated probes of a 1:N protocol. By default
  only the even-indexed identities are used, so the odd ones stay untouched for reporting.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from nextofkin.errors import CalibrationError
from nextofkin.evaluation.cache import PROBE, Job
from nextofkin.evaluation.engine import pick_probe
from nextofkin.evaluation.protocols import OneToNProtocol, read_protocol, split_by_identity
from nextofkin.evaluation.runner import RunContext, analyse
from nextofkin.gallery.index import VectorIndex
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.records import Account
from nextofkin.i18n import gettext
from nextofkin.identify.calibration import Calibration
from nextofkin.identify.derived import cohort_store, measure_calibrations, refresh_derived
from nextofkin.identify.normalise import HitScorer
from nextofkin.identify.search import SHORTLIST, account_scores, scored_hits
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


def calibrate_self(workspace: Workspace) -> Calibration:
    """Recalibrate from the gallery's own owners (leave-one-account-out) and store it."""
    refresh_derived(workspace, force_calibration=True)
    stored = open_index(workspace).description.calibration
    if not stored:
        raise CalibrationError(gettext("the gallery is empty: ingest a gallery before calibrating"))
    return Calibration.from_dict(stored)


def calibrate_from_protocol(
    workspace: Workspace, ctx: RunContext, protocol_file: Path, *, half: str = "even"
) -> Calibration:
    """Search the protocol's non-mated probes against the workspace's index and store the
    thresholds their top scores give (``half``: ``even`` identities only, or ``all``)."""
    protocol = read_protocol(protocol_file)
    # The cohort must be current: the thresholds are measured in its scores.
    refresh_derived(workspace)
    index = open_index(workspace)
    if len(index) == 0:
        raise CalibrationError(gettext("the index is empty: ingest a gallery before calibrating"))
    vectors = _stranger_vectors(ctx, protocol, half)
    normalise = workspace.settings.score.normalise == "snorm"
    scorer = HitScorer(
        cohort_store(workspace).load() if normalise else None, index.description.model
    )
    by_score, by_similarity, n_accounts = _stranger_tops(workspace, index, scorer, vectors)
    which = "even-indexed identities" if half == "even" else "all identities"
    note = (
        f"{len(by_score)} stranger searches from {protocol_file.name}; a later ingest replaces "
        "this with the gallery's own leave-one-out calibration"
    )
    measured = measure_calibrations(
        by_score,
        by_similarity,
        n_accounts,
        workspace.settings.decision,
        method=f"non-mated probes of {protocol.name} ({which}), impostor top-1",
        scorer=scorer,
    )
    calibration, similarity = measured.scores, measured.similarity
    for made in (calibration, similarity):
        made.notes.append(note)
    index.description.calibration = calibration.to_dict()
    index.description.similarity_calibration = similarity.to_dict()
    index.save()
    log.info("stored calibration from %d impostor searches", len(by_score))
    return calibration


def _stranger_vectors(ctx: RunContext, protocol: OneToNProtocol, half: str) -> np.ndarray:
    """The probe vectors of the protocol's non-mated probes (``half="even"``: even identities)."""
    probes = protocol.nonmated
    if half == "even":
        probes, _ = split_by_identity(probes)
    results = analyse(ctx, [Job(p.photo, PROBE) for p in probes])
    vectors = [f.embedding for f in (pick_probe(results[Job(p.photo, PROBE)]) for p in probes) if f]
    if not vectors:
        raise CalibrationError(gettext("no face was found in any non-mated probe of the protocol"))
    return np.stack(vectors).astype(np.float32)


def _stranger_tops(
    workspace: Workspace, index: VectorIndex, scorer: HitScorer, queries: np.ndarray
) -> tuple[list[float], list[float], int]:
    """Each stranger's best account score and best cosine similarity, and the gallery's size in
    accounts: one measured draw each of "a stranger against this gallery"."""
    by_score: list[float] = []
    by_similarity: list[float] = []
    with workspace.session() as session:
        n_accounts = session.scalar(select(func.count(Account.id))) or 0
        for hits in scored_hits(session, index, scorer, queries, min(len(index), SHORTLIST)):
            best = account_scores(hits)
            if best:
                by_score.append(max(best.values()))
                by_similarity.append(max(account_scores(hits, by="similarity").values()))
    return by_score, by_similarity, n_accounts
