"""Standing searches: every searchable case compared with the faces the gallery gained since.

Most bodies are not identified on their first search: the person's accounts are not in the
gallery yet. Each case keeps the fused probe vector of its last search and a watermark (the
highest gallery face id already compared, :mod:`nextofkin.cases.probes`). A rescan compares only
the identity faces above each case's watermark with that case's probe, scores them exactly as a
search would (the calibration and s-norm cohort stored with the index), and raises an alert
(:mod:`nextofkin.cases.alerts`) when an account

* reaches `possible` or better and was not already shown to the team for that case, or
* is ``standing.beat_factor`` times less likely to be a stranger's best score (FPIR) than the
  case's best candidate so far.

Its cost is (cases x new faces) dot products, not a search of the whole gallery. It runs at the
end of every ingest (the CLI's ingest command calls it; gallery must not import cases) and on
demand (``nextofkin case rescan``). It holds the ingest lock, so no ingest adds faces while the
watermarks move. Nothing is confirmed: an alert only asks a person to look.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.alerts import AlertInfo, AlertReason, alert_info
from nextofkin.cases.probes import SHOWN
from nextofkin.cases.records import Case, CaseDecision
from nextofkin.cases.service import AFTER_SEARCH
from nextofkin.cases.standing_records import CaseAlert, CaseProbe
from nextofkin.db import utcnow
from nextofkin.gallery.ingest import ingest_lock_path
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.records import Account, Face, FaceRoleRecord, Source
from nextofkin.i18n import _
from nextofkin.identify.calibration import Calibration
from nextofkin.identify.cohort import cohort_store
from nextofkin.identify.normalise import HitScorer, snorm
from nextofkin.identify.search import IDENTITY_ROLES, Searcher
from nextofkin.processes import exclusive_lock
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# Cases in these states are still searched; closed, identified and notified ones are not.
SEARCHABLE = tuple(state.value for state in AFTER_SEARCH)
# New faces compared per step: bounds memory at (cases x CHUNK) scores.
CHUNK = 8192
# Best faces kept per case and step for the "beats" rule; `possible` hits are all kept anyway.
TOP_PER_CASE = 5
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Hit:
    """A new identity face that scored well against one case's probe."""

    case_id: int
    face_id: int
    account_id: int
    score: float
    similarity: float


@dataclass
class RescanReport:
    """What one rescan did."""

    cases: int = 0
    faces_compared: int = 0
    comparisons: int = 0
    alerts: list[AlertInfo] = field(default_factory=list)
    seconds: float = 0.0
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "cases": self.cases,
            "faces_compared": self.faces_compared,
            "comparisons": self.comparisons,
            "alerts": [a.to_dict() for a in self.alerts],
            "seconds": round(self.seconds, 3),
            "note": self.note,
        }


@dataclass(frozen=True)
class _Probes:
    """The probes of the cases one rescan covers (one embedding model)."""

    case_ids: I64
    vectors: F32
    watermarks: I64
    model: str


def rescan(
    workspace: Workspace,
    actor: str | None,
    numbers: Sequence[str] | None = None,
    *,
    system: bool = False,
) -> RescanReport:
    """Compare the faces added since each case's watermark with the case; raise alerts.

    ``actor`` is the user who asked, who needs the search permission; with ``system`` (the
    rescan at the end of an ingest) no user is needed and the alerts are raised by ``system``.
    ``numbers`` limits the rescan to those cases. Raises :class:`~nextofkin.errors.Busy` while
    an ingest runs.
    """
    started = time.monotonic()
    with exclusive_lock(ingest_lock_path(workspace), _("an ingest")):
        report = _rescan_locked(workspace, None if system else actor, numbers, system)
    report.seconds = time.monotonic() - started
    return report


def _rescan_locked(
    workspace: Workspace, actor: str | None, numbers: Sequence[str] | None, system: bool
) -> RescanReport:
    with workspace.session() as session:
        if not system:
            actor = require(session, actor, Permission.SEARCH).name
        if session.scalar(select(func.count(Account.id)).where(Account.roles_dirty.is_(True))):
            # New faces without owner roles would be skipped and the watermarks moved past them.
            return RescanReport(note=_("the gallery's derived data is not refreshed: ingest again"))
        groups = _probes(session, numbers)
        if not groups:
            return RescanReport(note=_("no searchable case has a stored probe"))
        searcher = Searcher(session, open_index(workspace), cohorts=cohort_store(workspace))
        calibration = searcher.calibration()
        scorer = searcher.scorer(calibration)
        report = RescanReport()
        top = int(session.scalar(select(func.max(Face.id))) or 0)
        for probes in groups:
            hits, compared = _compare(session, scorer, probes, calibration)
            raised = _alertable(session, probes, hits, calibration, workspace)
            report.alerts += _raise(session, raised, calibration, actor)
            report.cases += len(probes.case_ids)
            report.faces_compared += compared
            report.comparisons += compared * len(probes.case_ids)
            _advance(session, probes, hits, calibration, top)
        audit.record(
            session,
            actor,
            audit.Action.CASE_RESCAN,
            "cases",
            {
                "cases": report.cases,
                "faces_compared": report.faces_compared,
                "alerts": [a.id for a in report.alerts],
            },
        )
    return report


def _probes(session: Session, numbers: Sequence[str] | None) -> list[_Probes]:
    """The stored probes of searchable cases, grouped by the model that made them."""
    query = (
        select(CaseProbe.case_id, CaseProbe.vector, CaseProbe.watermark, CaseProbe.model)
        .join(Case, Case.id == CaseProbe.case_id)
        .where(Case.state.in_(SEARCHABLE))
        .order_by(CaseProbe.case_id)
    )
    if numbers is not None:
        query = query.where(Case.number.in_(list(numbers)))
    by_model: dict[str, list[tuple[int, np.ndarray, int]]] = defaultdict(list)
    for case_id, vector, watermark, model in session.execute(query):
        by_model[model].append((case_id, vector, watermark))
    return [
        _Probes(
            case_ids=np.asarray([r[0] for r in rows], dtype=np.int64),
            vectors=np.stack([r[1] for r in rows]).astype(np.float32),
            watermarks=np.asarray([r[2] for r in rows], dtype=np.int64),
            model=model,
        )
        for model, rows in by_model.items()
    ]


def _new_identity_faces(
    session: Session, model: str, above: int
) -> Iterator[tuple[I64, F32, dict[int, list[int]]]]:
    """Identity faces (owner or unresolved role) of ``model`` with ids above ``above``, in
    chunks: ids, vectors, and the accounts each face is an identity face of."""
    last = above
    while True:
        rows = session.execute(
            select(FaceRoleRecord.face_id, FaceRoleRecord.account_id)
            .join(Face, Face.id == FaceRoleRecord.face_id)
            .where(
                FaceRoleRecord.face_id > last,
                FaceRoleRecord.role.in_(IDENTITY_ROLES),
                Face.model == model,
            )
            .order_by(FaceRoleRecord.face_id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        accounts: dict[int, list[int]] = defaultdict(list)
        for face_id, account_id in rows:
            accounts[face_id].append(account_id)
        ids = np.asarray(sorted(accounts), dtype=np.int64)
        vectors: dict[int, np.ndarray] = {
            int(face_id): vector
            for face_id, vector in session.execute(
                select(Face.id, Face.embedding).where(Face.id.in_(ids.tolist()))
            )
        }
        yield ids, np.stack([vectors[int(i)] for i in ids]).astype(np.float32), accounts
        last = int(ids[-1])


def _scores(session: Session, scorer: HitScorer, probes: F32, ids: I64, sims: F32) -> F32:
    """Scores of (cases x faces) similarities, as the search computes them."""
    cohort = scorer.cohort
    if cohort is None:
        return sims
    mean, std, known = cohort.lookup(ids)
    if not known.all():
        # Faces without cohort statistics (refresh interrupted): the scorer computes them.
        wide = np.broadcast_to(ids, sims.shape).copy()
        return scorer.score(session, probes, wide, sims)
    return snorm(sims, cohort.stats(probes), (mean[None, :], std[None, :]))


def _compare(
    session: Session, scorer: HitScorer, probes: _Probes, calibration: Calibration
) -> tuple[list[Hit], int]:
    """Every new identity face against every case above its watermark: the hits worth keeping
    (at `possible` or better, and each case's best few) and how many faces were compared."""
    hits: list[Hit] = []
    compared = 0
    low = int(probes.watermarks.min())
    for ids, vectors, accounts in _new_identity_faces(session, probes.model, low):
        compared += len(ids)
        sims = probes.vectors @ vectors.T
        scores = _scores(session, scorer, probes.vectors, ids, sims)
        scores[ids[None, :] <= probes.watermarks[:, None]] = -np.inf
        keep = scores >= calibration.possible_threshold
        k = min(TOP_PER_CASE, scores.shape[1])
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        keep[np.arange(scores.shape[0])[:, None], best] = True
        keep &= np.isfinite(scores)
        for row, col in zip(*np.nonzero(keep), strict=True):
            face_id = int(ids[col])
            hits += [
                Hit(
                    int(probes.case_ids[row]),
                    face_id,
                    account_id,
                    float(scores[row, col]),
                    float(sims[row, col]),
                )
                for account_id in accounts[face_id]
            ]
    return hits, compared


def _best_per_account(hits: list[Hit]) -> dict[tuple[int, int], Hit]:
    best: dict[tuple[int, int], Hit] = {}
    for hit in hits:
        key = (hit.case_id, hit.account_id)
        if key not in best or hit.score > best[key].score:
            best[key] = hit
    return best


def _alertable(
    session: Session,
    probes: _Probes,
    hits: list[Hit],
    calibration: Calibration,
    workspace: Workspace,
) -> list[tuple[Hit, AlertReason]]:
    """The hits that raise an alert, with why (one per case and account, best score)."""
    case_ids = probes.case_ids.tolist()
    stored = {
        p.case_id: p
        for p in session.scalars(select(CaseProbe).where(CaseProbe.case_id.in_(case_ids)))
    }
    alerted = {
        (int(case_id), int(account_id))
        for case_id, account_id in session.execute(
            select(CaseAlert.case_id, CaseAlert.account_id).where(CaseAlert.case_id.in_(case_ids))
        )
    }
    rejected = {
        (int(case_id), account_id)
        for case_id, account_id in session.execute(
            select(CaseDecision.case_id, CaseDecision.account_id).where(
                CaseDecision.case_id.in_(case_ids),
                CaseDecision.decision == "reject",
            )
        )
        if account_id is not None
    }
    n_accounts = int(session.scalar(select(func.count(Account.id))) or 0)
    factor = workspace.settings.standing.beat_factor
    out: list[tuple[Hit, AlertReason]] = []
    for key, hit in sorted(_best_per_account(hits).items()):
        if key in alerted or key in rejected:
            continue
        probe = stored[hit.case_id]
        fpir = calibration.fpir(hit.score, n_accounts)
        shown = calibration.decide(hit.score).value in SHOWN
        beats = probe.best_fpir is not None and fpir <= probe.best_fpir / factor
        if shown and hit.account_id not in (probe.presented or []):
            out.append((hit, AlertReason.POSSIBLE))
        elif beats:
            out.append((hit, AlertReason.BEATS))
    return out


def _advance(
    session: Session, probes: _Probes, hits: list[Hit], calibration: Calibration, top: int
) -> None:
    """Move each case's watermark to ``top`` and keep its best candidate so far."""
    n_accounts = int(session.scalar(select(func.count(Account.id))) or 0)
    best: dict[int, Hit] = {}
    for hit in hits:
        if hit.case_id not in best or hit.score > best[hit.case_id].score:
            best[hit.case_id] = hit
    for probe in session.scalars(
        select(CaseProbe).where(CaseProbe.case_id.in_(probes.case_ids.tolist()))
    ):
        probe.watermark = max(probe.watermark, top)
        probe.updated_at = utcnow()
        top_hit = best.get(probe.case_id)
        if top_hit is None:
            continue
        fpir = calibration.fpir(top_hit.score, n_accounts)
        if probe.best_fpir is None or fpir < probe.best_fpir:
            probe.best_fpir = fpir
            probe.best_account_id = top_hit.account_id
        if calibration.decide(top_hit.score).value in SHOWN:
            # An alerted account counts as shown: only a much better score is news again.
            probe.presented = sorted(set(probe.presented or []) | {top_hit.account_id})


def _account_refs(session: Session, account_ids: set[int]) -> dict[int, str]:
    rows = session.execute(
        select(Account.id, Source.name, Account.external_id)
        .join(Source, Source.id == Account.source_id)
        .where(Account.id.in_(sorted(account_ids)))
    )
    return {account_id: f"{source}/{external}" for account_id, source, external in rows}


def _raise(
    session: Session,
    raised: list[tuple[Hit, AlertReason]],
    calibration: Calibration,
    actor: str | None,
) -> list[AlertInfo]:
    """Insert the alerts, each in its own savepoint: the database refuses one whose case was
    closed or whose face was purged meanwhile, and that refusal must not undo the others."""
    refs = _account_refs(session, {hit.account_id for hit, _ in raised})
    n_accounts = int(session.scalar(select(func.count(Account.id))) or 0)
    out: list[AlertInfo] = []
    for hit, reason in raised:
        probe = session.get_one(CaseProbe, hit.case_id)
        alert = CaseAlert(
            case_id=hit.case_id,
            account_id=hit.account_id,
            account_ref=refs.get(hit.account_id, f"#{hit.account_id}"),
            face_id=hit.face_id,
            score=round(hit.score, 4),
            similarity=round(hit.similarity, 4),
            fpir=calibration.fpir(hit.score, n_accounts),
            decision=calibration.decide(hit.score).value,
            meaning=calibration.meaning(hit.score, n_accounts),
            reason=reason.value,
            previous_best_fpir=probe.best_fpir,
            gallery_accounts=n_accounts,
            raised_by=actor or SYSTEM_ACTOR,
            state="open",
        )
        try:
            with session.begin_nested():
                session.add(alert)
        except DBAPIError as exc:
            log.info("alert for case %d not raised: %s", hit.case_id, exc.orig)
            continue
        case = session.get_one(Case, hit.case_id)
        audit.record(
            session,
            actor,
            audit.Action.ALERT_RAISE,
            f"case:{case.number}",
            {
                "alert": alert.id,
                "account": alert.account_ref,
                "face": alert.face_id,
                "score": alert.score,
                "fpir": alert.fpir,
                "reason": alert.reason,
                "previous_best_fpir": alert.previous_best_fpir,
            },
            case=case.number,
        )
        out.append(alert_info(alert, case))
    return out
