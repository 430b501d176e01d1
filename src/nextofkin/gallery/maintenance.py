"""Everything derived from the records: owner roles, the vector index, the score-normalisation
cohort and the calibration.

:func:`refresh_derived` is idempotent and runs at the end of every ingest and purge; because it
recomputes from the database, it also repairs whatever a crash left half-done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin.gallery.embedder import record_embedder, resolve_embedder
from nextofkin.gallery.index import FaissIndex, VectorIndex, reconcile
from nextofkin.gallery.owners import resolve_account
from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord
from nextofkin.identify.calibration import Calibration, calibrate
from nextofkin.identify.normalise import CohortStore, HitScorer, refresh_cohort
from nextofkin.identify.search import SHORTLIST, account_scores, attribute_hits
from nextofkin.settings import DecisionPolicy
from nextofkin.vision.models import EmbedderSpec
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

CALIBRATION_SAMPLE = 3000


@dataclass(frozen=True)
class DerivedReport:
    """What a refresh changed."""

    accounts_resolved: int
    index_added: int
    index_removed: int
    index_total: int
    recalibrated: bool


def embedder_spec(workspace: Workspace) -> EmbedderSpec:
    """The spec of the workspace's embedder (recorded in it; see gallery/embedder.py)."""
    return resolve_embedder(workspace).spec


def open_index(workspace: Workspace) -> VectorIndex:
    """The workspace's vector index for its embedder, on the configured backend."""
    policy = workspace.settings.index
    embedder = resolve_embedder(workspace)
    index: VectorIndex
    if policy.backend == "milvus":
        from nextofkin.gallery.milvus_index import MilvusIndex

        index = MilvusIndex.open(workspace.index_dir, embedder.spec, policy=policy)
    else:
        index = FaissIndex.open(workspace.index_dir, embedder.spec, policy=policy)
    record_embedder(index, embedder)
    return index


def cohort_store(workspace: Workspace) -> CohortStore:
    """Where the workspace's score-normalisation cohort lives (beside the index)."""
    return CohortStore(workspace.index_dir / "snorm")


@dataclass(frozen=True)
class SelfCalibration:
    """Leave-one-out calibrations: in the search's scores, and in cosine similarity."""

    scores: Calibration
    similarity: Calibration


def self_calibration(
    session: Session,
    index: VectorIndex,
    spec: EmbedderSpec,
    workspace: Workspace,
    scorer: HitScorer | None = None,
) -> SelfCalibration:
    """Leave-one-account-out impostor scores of the gallery's own owners (see calibration.py)."""
    scorer = scorer or HitScorer(None, index.description.model)
    rng = np.random.default_rng(0)
    owners = session.execute(
        select(FaceRoleRecord.account_id, FaceRoleRecord.face_id, Face.embedding, Face.quality)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(FaceRoleRecord.role == FaceRole.OWNER.value)
    ).all()
    best_per_account: dict[int, tuple[int, np.ndarray, float]] = {}
    for account_id, face_id, vector, quality in owners:
        if account_id not in best_per_account or quality > best_per_account[account_id][2]:
            best_per_account[account_id] = (face_id, vector, quality)
    n_accounts = session.scalar(select(func.count(Account.id))) or 0
    account_ids = sorted(best_per_account)
    if len(account_ids) > CALIBRATION_SAMPLE:
        account_ids = sorted(rng.choice(account_ids, CALIBRATION_SAMPLE, replace=False).tolist())
    by_score: list[float] = []
    by_similarity: list[float] = []
    if account_ids and len(index) > 1:
        queries = np.stack([best_per_account[a][1] for a in account_ids]).astype(np.float32)
        # The shortlist the search itself uses, so that s-norm sees the same candidates.
        sims, ids = index.search(queries, min(len(index), SHORTLIST))
        own = np.asarray(account_ids, dtype=np.int64)
        scores = scorer.score(session, queries, ids, sims, exclude_accounts=own)
        for account_id, hits in zip(
            account_ids, attribute_hits(session, ids, sims, scores), strict=True
        ):
            own_face = best_per_account[account_id][0]
            # The same face can be shared by other accounts (one file posted twice): not a stranger.
            others = [h for h in hits if h.account_id != account_id]
            best = account_scores(others, exclude_faces={own_face})
            if best:
                by_score.append(max(best.values()))
                by_similarity.append(
                    max(account_scores(others, {own_face}, by="similarity").values())
                )
    return measure_calibrations(
        by_score,
        by_similarity,
        max(n_accounts - 1, 1),
        workspace.settings.decision,
        method="gallery leave-one-account-out impostor top-1",
        scorer=scorer,
        fallback=(spec.same_person_similarity, spec.strict_similarity),
    )


def measure_calibrations(
    by_score: list[float],
    by_similarity: list[float],
    accounts: int,
    policy: DecisionPolicy,
    *,
    method: str,
    scorer: HitScorer,
    fallback: tuple[float, float] | None = None,
) -> SelfCalibration:
    """Both calibrations of one set of impostor searches: in the scores ``scorer`` makes (what
    identification decides on) and in cosine similarity (kin's face-to-face confidence)."""
    cohort = scorer.cohort.cohort_id if scorer.cohort is not None else None
    return SelfCalibration(
        scores=calibrate(
            np.asarray(by_score),
            accounts,
            policy,
            method=method if cohort is None else f"{method}, {scorer.kind}",
            fallback=fallback,
            score_kind="cosine" if cohort is None else "snorm",
            cohort=cohort,
        ),
        similarity=calibrate(
            np.asarray(by_similarity), accounts, policy, method=method, fallback=fallback
        ),
    )


def refresh_derived(workspace: Workspace, *, force_calibration: bool = False) -> DerivedReport:
    """Resolve owners of changed accounts, reconcile the index, update the score-normalisation
    cohort, and recalibrate if anything changed."""
    spec = embedder_spec(workspace)
    with workspace.session() as session:
        dirty = session.scalars(select(Account).where(Account.roles_dirty.is_(True))).all()
        dirty_ids = [account.id for account in dirty]
        for account in dirty:
            resolve_account(session, account, spec.name, spec.same_person_similarity)
    index = open_index(workspace)
    with workspace.session() as session:
        changes = reconcile(index, session)
        norm = refresh_cohort(
            session, index, cohort_store(workspace), workspace.settings.score, dirty_ids
        )
        if norm.note:
            log.info("%s", norm.note)
        stored = index.description.calibration or {}
        cohort_id = norm.cohort.cohort_id if norm.cohort is not None else None
        recalibrate = (
            force_calibration
            or bool(dirty_ids)
            or changes.added > 0
            or changes.removed > 0
            or norm.changed
            or not stored
            or stored.get("cohort") != cohort_id
            or index.description.similarity_calibration is None
        )
        if recalibrate:
            scorer = HitScorer(norm.cohort, index.description.model)
            measured = self_calibration(session, index, spec, workspace, scorer)
            index.description.calibration = measured.scores.to_dict()
            index.description.similarity_calibration = measured.similarity.to_dict()
    index.save()
    return DerivedReport(
        accounts_resolved=len(dirty_ids),
        index_added=changes.added,
        index_removed=changes.removed,
        index_total=changes.total,
        recalibrated=recalibrate,
    )
