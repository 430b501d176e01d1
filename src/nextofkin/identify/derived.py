"""What the identify layer derives from the gallery after it changes: the score-normalisation
cohort and the calibration, after the gallery's own owner roles and index.

:func:`refresh_derived` is idempotent and runs at the end of every ingest and purge; because it
recomputes from the database, it also repairs whatever a crash left half-done. It lives here, not
in the gallery layer, because the cohort and calibration are the identify layer's: the gallery
ingests, and whoever ran the ingest derives (:func:`ingest` and :func:`derive_after` do both under
the one ingest lock, for every engine).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typing_extensions import Unpack

from nextofkin.errors import ConfigError, InputError
from nextofkin.gallery.cluster.neighbours import PendingNeighbours, ShardCohort
from nextofkin.gallery.embedder import EMBEDDER_KEY, ENV_HINT, held_embedder
from nextofkin.gallery.index import FaissIndex, ProgressFn, VectorIndex, reconcile, reindex
from nextofkin.gallery.ingest import IngestOptions, IngestReport, ingest_export
from nextofkin.gallery.ingest_lock import ingest_lock
from nextofkin.gallery.maintenance import embedder_spec, open_index, resolve_dirty_owners
from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord
from nextofkin.gallery.reembed import (
    CarryFn,
    Problem,
    ReembedOptions,
    count_faces,
    reembed_faces,
    switch_faces,
)
from nextofkin.i18n import N_, _
from nextofkin.identify.calibration import Calibration, calibrate
from nextofkin.identify.cohort import cohort_store as cohort_store
from nextofkin.identify.normalise import HitScorer, refresh_cohort
from nextofkin.identify.search import SHORTLIST, account_scores, scored_hits
from nextofkin.settings import DecisionPolicy
from nextofkin.vision.models import EmbedderSpec
from nextofkin.vision.registry import default_registry
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


def shard_cohort(workspace: Workspace) -> ShardCohort | None:
    """The workspace's cohort as a cluster ingest's actors need it (``None`` without one, or
    when scores are not normalised: the derive step then computes every new face's statistics)."""
    if workspace.settings.score.normalise == "none":
        return None
    cohort = cohort_store(workspace).load()
    if cohort is None:
        return None
    accounts = np.asarray(cohort.cohort_accounts)
    return ShardCohort.of(cohort.cohort_id, cohort.cohort_vectors, accounts, cohort.k)


@dataclass(frozen=True)
class SelfCalibration:
    """Leave-one-out calibrations: in the search's scores, and in cosine similarity."""

    scores: Calibration
    similarity: Calibration


@dataclass(frozen=True)
class _OwnerFace:
    """An account's best-quality owner face: the query of its impostor search."""

    face_id: int
    vector: np.ndarray
    quality: float


def _owner_faces(session: Session) -> dict[int, _OwnerFace]:
    """Each account's best-quality owner face, by account id."""
    owners = session.execute(
        select(FaceRoleRecord.account_id, FaceRoleRecord.face_id, Face.embedding, Face.quality)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(FaceRoleRecord.role == FaceRole.OWNER.value)
    ).all()
    best: dict[int, _OwnerFace] = {}
    for account_id, face_id, vector, quality in owners:
        if account_id not in best or quality > best[account_id].quality:
            best[account_id] = _OwnerFace(face_id, vector, quality)
    return best


def _impostor_tops(
    session: Session, index: VectorIndex, scorer: HitScorer, owners: dict[int, _OwnerFace]
) -> tuple[list[float], list[float]]:
    """Each sampled account's best score (and best similarity) among the *other* accounts."""
    account_ids = sorted(owners)
    if len(account_ids) > CALIBRATION_SAMPLE:
        rng = np.random.default_rng(0)
        account_ids = sorted(rng.choice(account_ids, CALIBRATION_SAMPLE, replace=False).tolist())
    by_score: list[float] = []
    by_similarity: list[float] = []
    if not account_ids or len(index) <= 1:
        return by_score, by_similarity
    queries = np.stack([owners[a].vector for a in account_ids]).astype(np.float32)
    own = np.asarray(account_ids, dtype=np.int64)
    # The shortlist the search itself uses, so that s-norm sees the same candidates.
    rows = scored_hits(session, index, scorer, queries, min(len(index), SHORTLIST), own)
    for account_id, hits in zip(account_ids, rows, strict=True):
        own_face = owners[account_id].face_id
        # The same face can be shared by other accounts (one file posted twice): not a stranger.
        others = [h for h in hits if h.account_id != account_id]
        best = account_scores(others, exclude_faces={own_face})
        if best:
            by_score.append(max(best.values()))
            by_similarity.append(max(account_scores(others, {own_face}, by="similarity").values()))
    return by_score, by_similarity


def self_calibration(
    session: Session,
    index: VectorIndex,
    spec: EmbedderSpec,
    workspace: Workspace,
    scorer: HitScorer | None = None,
) -> SelfCalibration:
    """Leave-one-account-out impostor scores of the gallery's own owners (see calibration.py)."""
    scorer = scorer or HitScorer(None, index.description.model)
    n_accounts = session.scalar(select(func.count(Account.id))) or 0
    by_score, by_similarity = _impostor_tops(session, index, scorer, _owner_faces(session))
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
    dirty_ids = resolve_dirty_owners(workspace, spec)
    index = open_index(workspace)
    pending = PendingNeighbours.of(workspace)  # a cluster ingest's nearest-cohort lists
    with workspace.session() as session:
        changes = reconcile(index, session)
        norm = refresh_cohort(
            session, index, cohort_store(workspace), workspace.settings.score, dirty_ids,
            neighbours=pending.batches(),
        )  # fmt: skip
        pending.clear()  # used, or outdated by a redraw
        if norm.note:
            log.info("%s", norm.note)
        if norm.faces_from_shards:
            log.info("cohort statistics of %d faces from the cluster's shards",
                     norm.faces_from_shards)  # fmt: skip
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


def derive_after(workspace: Workspace, run: Callable[[], IngestReport]) -> IngestReport:
    """Run an ingest engine (``run``: the one-machine :func:`ingest_export`, or the cluster's)
    under the workspace's ingest lock, then derive owners, index, cohort and calibration before
    the lock is released, so no other ingest sees a gallery without its index."""
    started = time.monotonic()
    with ingest_lock(workspace):
        report = run()
        derived = refresh_derived(workspace)
    report.accounts_resolved = derived.accounts_resolved
    report.index_total = derived.index_total
    report.seconds = round(time.monotonic() - started, 2)
    return report


def ingest(workspace: Workspace, root: Path, **options: Unpack[IngestOptions]) -> IngestReport:
    """Ingest the export at ``root`` on this machine, then derive everything searches need.

    ``options`` are :class:`~nextofkin.gallery.ingest.IngestOptions` (``layout`` is one of
    :data:`nextofkin.gallery.importers.detect.FORMATS`; ``auto``: detected). One ingest runs at
    a time per workspace: another one raises :class:`Busy` at once. A full disk raises
    :class:`DiskFull`; what was committed stays, and the next run resumes.
    """

    def run() -> IngestReport:
        return ingest_export(workspace, root, **options)

    return derive_after(workspace, run)


# --- moving the workspace to another embedder (``nextofkin reindex --embedder``) ---------------


@dataclass
class MoveReport:
    """What a move to another embedder did (``switched`` only when every face had its vector)."""

    embedder_from: str
    embedder_to: str
    model_to: str = ""
    faces: int = 0
    had_vector: int = 0
    embedded: int = 0
    missing: int = 0
    problems: list[Problem] = field(default_factory=list)
    switched: bool = False
    nothing_to_do: bool = False
    roles_carried: int = 0
    references_carried: dict[str, int] = field(default_factory=dict)
    faces_removed: int = 0
    index_total: int = 0
    seconds: float = 0.0


def move_target(workspace: Workspace, name: str) -> tuple[str, EmbedderSpec, bool]:
    """(held embedder, target spec, nothing to do) of a move to ``name``, or a clear refusal
    (asked by the command before it draws anything, and again by :func:`move_embedder`)."""
    if workspace.settings.index.backend != "faiss":
        raise ConfigError(_("re-embedding a workspace needs the FAISS index backend"))
    registry = default_registry(workspace.settings.vision)
    spec = registry.embedder(name).spec  # an unknown name: ModelError listing the known ones
    vision = workspace.settings.vision
    if "embedder" in vision.model_fields_set and vision.embedder != name:
        # Every later command would refuse the moved workspace: say so before any work.
        raise ConfigError(
            _(
                "the settings name embedder %(embedder)s (%(env_hint)s): unset it, or set it "
                "to %(name)s, to move the workspace to %(name)s",
                embedder=vision.embedder,
                env_hint=ENV_HINT,
                name=name,
            )
        )
    held = held_embedder(workspace, registry)
    with workspace.session() as session:
        faces = count_faces(session, spec.name)[0]
        others = session.scalar(select(func.count(Face.id)).where(Face.model != spec.name)) or 0
    if held is None or not faces:
        raise InputError(_("workspace %(home)s has no faces to re-embed", home=workspace.home))
    held_spec = registry.embedder(held).spec
    same = (held_spec.name, held_spec.alignment, held_spec.dim) == (
        spec.name, spec.alignment, spec.dim
    )  # fmt: skip
    # Same vectors and no face of another model: nothing to do. Faces of another model left
    # while the workspace already records the target: a move stopped inside its switch, finished.
    return held, spec, same and not others


def move_embedder(
    workspace: Workspace,
    name: str,
    options: ReembedOptions,
    *,
    carry: CarryFn | None = None,
    factory: str | None = None,
    index_progress: ProgressFn | None = None,
) -> MoveReport:
    """Re-embed every face with embedder ``name`` and switch the workspace to it (see
    gallery/reembed.py), under the ingest lock; the switch happens only when no face lacks
    its new vector, in one transaction whose index is saved (atomically) before the commit."""
    started = time.monotonic()
    held, spec, nothing = move_target(workspace, name)
    report = MoveReport(held, name, spec.name, nothing_to_do=nothing)
    if nothing:
        return report
    vision = workspace.settings.vision.model_copy(update={"embedder": name})
    with ingest_lock(workspace, N_("re-embedding faces")):
        done = reembed_faces(workspace.sessions, vision, name, spec, options)
        report.faces, report.had_vector, report.embedded = (
            done.faces,
            done.had_vector,
            done.embedded,
        )
        report.missing, report.problems = done.missing, done.problems
        if done.missing:
            report.seconds = round(time.monotonic() - started, 2)
            return report
        with workspace.sessions() as session, session.begin():
            counts = switch_faces(session, spec.name, carry)
            index = FaissIndex.create(workspace.index_dir, spec, policy=workspace.settings.index)
            index.description.extra[EMBEDDER_KEY] = name
            report.index_total = reindex(
                index, session, factory=factory, progress=index_progress
            ).faces
            # The index names the new embedder from here; a kill before the commit below leaves
            # old faces beside the new ones, and the next run finishes the switch.
            index.save()
        report.switched = True
        report.roles_carried, report.references_carried = counts.roles, counts.references
        report.faces_removed = counts.removed
        refresh_derived(workspace, force_calibration=True)
    report.seconds = round(time.monotonic() - started, 2)
    return report
