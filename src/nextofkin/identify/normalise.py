"""Adaptive symmetric score normalisation (s-norm) of the product search.

A raw cosine similarity says how alike two faces are, not how unusual that likeness is for these
two faces: some faces (a common face, a blurred probe) resemble many people, others few. S-norm
turns the similarity ``s`` of a probe ``p`` and a gallery face ``g`` into

    0.5 * ((s - mean_p) / std_p + (s - mean_g) / std_g)

where mean and std are those of the ``k`` highest similarities of ``p`` (and of ``g``) to a
*cohort* of gallery faces, ``g``'s own account left out. On the LFW 1:N protocol, with the options
chosen on identities kept apart from the reported ones (docs/ACCURACY.md), it lowered FNIR at
FPIR 0.01 from 58.7% to 47.5% and raised rank-1 from 89.07% to 89.63%.

The cohort is a fixed, seeded sample of at most ``cohort_size`` identity faces (owners and faces
whose owner is unresolved), stored with the index together with every indexed face's statistics,
so a new face costs one (cohort x dim) product and a search one more. The cohort is redrawn, and
every face's statistics recomputed, when the gallery grew or shrank by ``redraw_growth`` since the
draw, or when a cohort face was removed or changed account (a purge must not leave a person's
vector behind in the cohort). While the cohort is the whole gallery the scores equal the
evaluation engine's ``snorm`` exactly (tested).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.diskspace import fsync_dir, fsync_file, write_atomically
from nextofkin.errors import CalibrationError
from nextofkin.gallery.cluster.neighbours import FaceNeighbours
from nextofkin.gallery.index import VectorIndex, embeddings_by_ids
from nextofkin.gallery.records import Face, FaceRole, FaceRoleRecord
from nextofkin.i18n import gettext
from nextofkin.settings import ScoreSettings

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

IDENTITY_ROLES = (FaceRole.OWNER.value, FaceRole.UNKNOWN.value)
POINTER = "current.json"
_ARRAYS = ("cohort_faces", "cohort_accounts", "cohort_vectors", "face_ids", "face_stats")
# A spread below this would turn rounding noise into large scores.
MIN_STD = 1e-3
NO_ACCOUNT = -1
# Golden-ratio multiplier: a fixed, well-spread order of face ids for the cohort draw.
_HASH = np.uint64(0x9E3779B97F4A7C15)


def top_stats(similarities: F32, k: int) -> tuple[F32, F32]:
    """Mean and spread (floored at ``MIN_STD``) of each row's ``k`` highest values.

    Excluded entries are ``-inf``; every row must have at least ``k`` finite ones.
    """
    k = max(1, min(k, similarities.shape[1]))
    part = -np.partition(-similarities, k - 1, axis=1)[:, :k]
    mean = part.mean(axis=1).astype(np.float32)
    std = np.maximum(part.std(axis=1), MIN_STD).astype(np.float32)
    return mean, std


def snorm(similarity: F32, probe: tuple[F32, F32], face: tuple[F32, F32]) -> F32:
    """The s-norm score of similarities (queries x hits) from both sides' cohort statistics.

    ``probe`` holds per-query (mean, std); ``face`` per-hit (mean, std) of the same shape as
    ``similarity``.
    """
    zp = (similarity - probe[0][:, None]) / probe[1][:, None]
    zg = (similarity - face[0]) / face[1]
    out: F32 = (0.5 * (zp + zg)).astype(np.float32)
    return out


@dataclass(frozen=True)
class Cohort:
    """A drawn cohort and every indexed face's statistics against it."""

    cohort_id: str  # changes only when the cohort is redrawn (calibrations refer to it)
    k: int
    size_setting: int
    drawn_at: int  # identity faces in the gallery when the cohort was drawn
    cohort_faces: I64
    cohort_accounts: I64
    cohort_vectors: F32
    face_ids: I64  # sorted
    face_stats: F32  # (faces, 2): mean, std

    @property
    def name(self) -> str:
        """How the scores are made, for calibrations and results."""
        return f"snorm(k={self.k}, cohort={len(self.cohort_faces)})"

    def stats(
        self, vectors: F32, accounts: I64 | None = None, faces: I64 | None = None
    ) -> tuple[F32, F32]:
        """Cohort statistics of ``vectors``; ``accounts``/``faces`` (one per row, -1 for none)
        are left out of each row's cohort (a face is not its own, or its account's, impostor)."""
        sims = np.asarray(vectors, dtype=np.float32) @ self.cohort_vectors.T
        if accounts is not None:
            sims[accounts[:, None] == self.cohort_accounts[None, :]] = -np.inf
        if faces is not None:
            sims[faces[:, None] == self.cohort_faces[None, :]] = -np.inf
        return top_stats(sims, self.k)

    def lookup(self, ids: I64) -> tuple[F32, F32, npt.NDArray[np.bool_]]:
        """Stored (mean, std, known) for face ids of any shape; unknown ids get (0, 1)."""
        flat = ids.ravel()
        pos = np.searchsorted(self.face_ids, flat)
        pos = np.minimum(pos, max(len(self.face_ids) - 1, 0))
        known = self.face_ids[pos] == flat if len(self.face_ids) else np.zeros(flat.shape, np.bool_)
        mean = np.where(known, self.face_stats[pos, 0] if len(self.face_ids) else 0.0, 0.0)
        std = np.where(known, self.face_stats[pos, 1] if len(self.face_ids) else 1.0, 1.0)
        return (
            mean.reshape(ids.shape).astype(np.float32),
            std.reshape(ids.shape).astype(np.float32),
            known.reshape(ids.shape),
        )


class CohortStore:
    """The cohort on disk: one directory per generation, a pointer file swapped atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self) -> Cohort | None:
        """The current cohort, or ``None`` when there is none (or it cannot be read)."""
        # A refresh may swap the pointer and remove the old generation between our reading the
        # pointer and opening its files: read the pointer again once before giving up.
        cohort: Cohort | None = None
        for _ in range(2):
            cohort, retry = self._load_once()
            if not retry:
                break
        return cohort

    def _load_once(self) -> tuple[Cohort | None, bool]:
        pointer = self.directory / POINTER
        if not pointer.exists():
            return None, False
        try:
            meta = json.loads(pointer.read_text(encoding="utf-8"))
            gen = self.directory / str(meta["generation"])
            arrays = {name: np.load(gen / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
            cohort = Cohort(
                cohort_id=str(meta["cohort_id"]),
                k=int(meta["k"]),
                size_setting=int(meta["size_setting"]),
                drawn_at=int(meta["drawn_at"]),
                cohort_faces=arrays["cohort_faces"],
                cohort_accounts=arrays["cohort_accounts"],
                cohort_vectors=np.asarray(arrays["cohort_vectors"], dtype=np.float32),
                face_ids=arrays["face_ids"],
                face_stats=arrays["face_stats"],
            )
            return cohort, False
        except FileNotFoundError:
            return None, True
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Derived data: the next refresh redraws it; searches say the scores are unusable.
            log.warning("score normalisation data in %s is unreadable: %s", self.directory, exc)
            return None, False

    def save(self, cohort: Cohort) -> None:
        """Write a new generation, then point at it (a crash leaves the previous one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        generation = f"gen-{uuid.uuid4().hex[:12]}"
        tmp = self.directory / f".{generation}.tmp"
        tmp.mkdir()
        for name in _ARRAYS:
            path = tmp / f"{name}.npy"
            with path.open("wb") as fh:
                np.save(fh, np.ascontiguousarray(getattr(cohort, name)))
            fsync_file(path)
        tmp.rename(self.directory / generation)
        meta = {
            "generation": generation,
            "cohort_id": cohort.cohort_id,
            "k": cohort.k,
            "size_setting": cohort.size_setting,
            "drawn_at": cohort.drawn_at,
        }
        write_atomically(self.directory / POINTER, json.dumps(meta).encode("utf-8"))
        fsync_dir(self.directory)
        self._remove_other_generations(keep=generation)

    def clear(self) -> bool:
        """Remove every generation; ``True`` if there was one."""
        existed = (self.directory / POINTER).exists()
        if self.directory.exists():
            shutil.rmtree(self.directory)
        return existed

    def _remove_other_generations(self, keep: str) -> None:
        # Readers that mapped an old generation keep reading it: unlinked files stay readable.
        for path in self.directory.iterdir():
            if path.name in (keep, POINTER):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()


@dataclass(frozen=True)
class _Identity:
    """Identity faces of the index's model: face id -> its (lowest) identity account."""

    faces: I64  # sorted, unique
    accounts: I64

    def account_of(self, ids: I64) -> I64:
        if not len(self.faces):
            return np.full(ids.shape, NO_ACCOUNT, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.faces, ids), len(self.faces) - 1)
        found = self.faces[pos] == ids
        return np.where(found, self.accounts[pos], NO_ACCOUNT).astype(np.int64)


def _identity_faces(session: Session, model: str, ids: I64 | None = None) -> _Identity:
    """Identity faces of ``model`` (only ``ids`` when given) with their lowest account."""
    query = (
        select(FaceRoleRecord.face_id, FaceRoleRecord.account_id)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(FaceRoleRecord.role.in_(IDENTITY_ROLES), Face.model == model)
        .order_by(FaceRoleRecord.face_id, FaceRoleRecord.account_id)
    )
    if ids is not None:
        query = query.where(FaceRoleRecord.face_id.in_(ids.tolist()))
    rows = session.execute(query).all()
    if not rows:
        return _Identity(np.zeros(0, np.int64), np.zeros(0, np.int64))
    faces = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    accounts = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    # Rows are ordered by (face, account): the first row of each face has its lowest account.
    first = np.r_[True, faces[1:] != faces[:-1]]
    return _Identity(faces[first], accounts[first])


def _vectors(session: Session, ids: I64, chunk: int) -> tuple[I64, F32]:
    got_ids: list[I64] = []
    got_vecs: list[F32] = []
    for part_ids, part_vecs in embeddings_by_ids(session, ids, chunk):
        got_ids.append(part_ids)
        got_vecs.append(part_vecs)
    if not got_ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    all_ids = np.concatenate(got_ids)
    order = np.argsort(all_ids)
    return all_ids[order], np.concatenate(got_vecs)[order]


def draw_order(face_ids: I64) -> I64:
    """A fixed pseudo-random order of face ids (the cohort is a prefix of it)."""
    with np.errstate(over="ignore"):
        keys = face_ids.astype(np.uint64) * _HASH
    return face_ids[np.argsort(keys, kind="stable")]


@dataclass(frozen=True)
class CohortRefresh:
    """What :func:`refresh_cohort` did."""

    cohort: Cohort | None
    changed: bool  # the scores' meaning changed: recalibrate
    redrawn: bool
    faces_computed: int
    note: str = ""
    faces_from_shards: int = 0  # finished from the cluster actors' nearest-cohort lists


def refresh_cohort(
    session: Session,
    index: VectorIndex,
    store: CohortStore,
    settings: ScoreSettings,
    changed_accounts: Sequence[int] = (),
    *,
    chunk: int = 8192,
    neighbours: Iterable[FaceNeighbours] = (),
) -> CohortRefresh:
    """Bring the stored cohort and face statistics up to date with the index and the roles.

    ``neighbours``: new faces' nearest cohort similarities from a cluster ingest; faces they
    cover are finished from them instead of multiplied with the cohort again."""
    model = index.description.model
    identity = _identity_faces(session, model)
    n_identity = len(identity.faces)
    if settings.normalise == "none" or n_identity < settings.min_cohort:
        removed = store.clear()
        note = (
            "score normalisation is off"
            if settings.normalise == "none"
            else f"score normalisation needs at least {settings.min_cohort} identity faces "
            f"(the gallery has {n_identity}): scores are cosine similarities"
        )
        return CohortRefresh(None, removed, False, 0, note)
    current = store.load()
    index_ids = np.sort(index.ids().astype(np.int64))
    if current is None or _needs_redraw(current, identity, n_identity, settings):
        cohort = _draw(session, identity, settings, chunk)
        stats_ids, stats = _face_stats(session, cohort, identity, index_ids, chunk)
        drawn = _with_stats(cohort, stats_ids, stats)
        store.save(drawn)
        log.info(
            "drew a cohort of %d faces; statistics of %d faces",
            len(cohort.cohort_faces),
            len(stats_ids),
        )
        return CohortRefresh(drawn, True, True, len(stats_ids))
    # Keep what is still indexed; compute new faces and faces whose account may have changed.
    keep = np.isin(current.face_ids, index_ids)
    stale = np.isin(current.face_ids, _faces_of(identity, changed_accounts))
    keep &= ~stale
    missing = np.setdiff1d(index_ids, current.face_ids[keep])
    if keep.all() and not missing.size:
        return CohortRefresh(current, False, False, 0)
    near_ids, near_stats = _from_neighbours(current, identity, missing, neighbours)
    rest = np.setdiff1d(missing, near_ids)
    new_ids, new_stats = _face_stats(session, current, identity, rest, chunk)
    ids = np.concatenate([np.asarray(current.face_ids[keep]), near_ids, new_ids])
    stats = np.concatenate([np.asarray(current.face_stats[keep]), near_stats, new_stats])
    order = np.argsort(ids)
    updated = _with_stats(current, ids[order], stats[order])
    store.save(updated)
    return CohortRefresh(updated, False, False, int(new_ids.size), "", int(near_ids.size))


def _from_neighbours(
    cohort: Cohort, identity: _Identity, missing: I64, found: Iterable[FaceNeighbours]
) -> tuple[I64, F32]:
    """Statistics of ``missing`` faces from their nearest-cohort lists: the face's account is
    left out now that owner resolution has named it; a face left with fewer than ``k`` entries
    (or listed against another cohort) is not covered."""
    k = max(1, min(cohort.k, len(cohort.cohort_faces)))
    out_ids, out_stats = [np.zeros(0, np.int64)], [np.zeros((0, 2), np.float32)]
    for batch in found:
        rows = np.isin(batch.face_ids, missing)
        if batch.cohort_id != cohort.cohort_id or not rows.any():
            continue
        ids, pos = batch.face_ids[rows], batch.positions[rows]
        sims = np.array(batch.similarities[rows], dtype=np.float32)
        sims[np.asarray(cohort.cohort_accounts)[pos] == identity.account_of(ids)[:, None]] = -np.inf
        sims[np.asarray(cohort.cohort_faces)[pos] == ids[:, None]] = -np.inf
        enough = np.isfinite(sims).sum(axis=1) >= k
        mean, std = top_stats(sims[enough], k) if enough.any() else (np.zeros(0, np.float32),) * 2
        out_ids.append(ids[enough])
        out_stats.append(np.stack([mean, std], axis=1).astype(np.float32))
    ids, stats = np.concatenate(out_ids), np.concatenate(out_stats)
    _, first = np.unique(ids, return_index=True)  # a face listed twice counts once
    return ids[first], stats[first]


def _faces_of(identity: _Identity, accounts: Sequence[int]) -> I64:
    if not accounts:
        return np.zeros(0, np.int64)
    return identity.faces[np.isin(identity.accounts, np.asarray(list(accounts), np.int64))]


def _needs_redraw(
    current: Cohort, identity: _Identity, n_identity: int, settings: ScoreSettings
) -> bool:
    if current.k != settings.cohort_k or current.size_setting != settings.cohort_size:
        return True
    if abs(n_identity - current.drawn_at) > settings.redraw_growth * current.drawn_at:
        return True
    # Every cohort face must still be an identity face of the same account.
    still = identity.account_of(np.asarray(current.cohort_faces)) == current.cohort_accounts
    return not bool(still.all())


def _draw(session: Session, identity: _Identity, settings: ScoreSettings, chunk: int) -> Cohort:
    chosen = np.sort(draw_order(identity.faces)[: settings.cohort_size])
    ids, vectors = _vectors(session, chosen, chunk)
    return Cohort(
        cohort_id=uuid.uuid4().hex[:12],
        k=settings.cohort_k,
        size_setting=settings.cohort_size,
        drawn_at=len(identity.faces),
        cohort_faces=ids,
        cohort_accounts=identity.account_of(ids),
        cohort_vectors=vectors.astype(np.float32),
        face_ids=np.zeros(0, np.int64),
        face_stats=np.zeros((0, 2), np.float32),
    )


def _face_stats(
    session: Session, cohort: Cohort, identity: _Identity, ids: I64, chunk: int
) -> tuple[I64, F32]:
    out_ids: list[I64] = []
    out_stats: list[F32] = []
    for part_ids, vectors in embeddings_by_ids(session, ids, chunk):
        mean, std = cohort.stats(vectors, identity.account_of(part_ids), part_ids)
        out_ids.append(part_ids)
        out_stats.append(np.stack([mean, std], axis=1))
    if not out_ids:
        return np.zeros(0, np.int64), np.zeros((0, 2), np.float32)
    return np.concatenate(out_ids), np.concatenate(out_stats).astype(np.float32)


def _with_stats(cohort: Cohort, ids: I64, stats: F32) -> Cohort:
    order = np.argsort(ids)
    return Cohort(
        cohort_id=cohort.cohort_id,
        k=cohort.k,
        size_setting=cohort.size_setting,
        drawn_at=cohort.drawn_at,
        cohort_faces=np.asarray(cohort.cohort_faces),
        cohort_accounts=np.asarray(cohort.cohort_accounts),
        cohort_vectors=np.asarray(cohort.cohort_vectors),
        face_ids=ids[order],
        face_stats=stats[order],
    )


class HitScorer:
    """Turns index hits (similarities of faces) into the scores decisions are made on."""

    def __init__(self, cohort: Cohort | None, model: str = "") -> None:
        self.cohort = cohort
        self.model = model

    @property
    def kind(self) -> str:
        """``cosine`` or the s-norm description."""
        return "cosine" if self.cohort is None else self.cohort.name

    def score(
        self,
        session: Session,
        queries: F32,
        ids: I64,
        similarities: F32,
        exclude_accounts: I64 | None = None,
    ) -> F32:
        """Scores of hits (queries x k); ``exclude_accounts`` (per query, -1 for none) are left
        out of a query's cohort, as for leave-one-account-out calibration searches."""
        sims = np.asarray(similarities, dtype=np.float32)
        if self.cohort is None:
            return sims
        cohort = self.cohort
        probe = cohort.stats(queries, exclude_accounts)
        mean, std, known = cohort.lookup(ids)
        unknown = (~known) & (ids >= 0)
        if unknown.any():
            # Faces indexed after the last refresh (a crash between the two): compute them now.
            missing = np.unique(ids[unknown])
            log.info("computing cohort statistics of %d faces at search time", missing.size)
            identity = _identity_faces(session, self.model, missing)
            got_ids, got_stats = _face_stats(session, cohort, identity, missing, 8192)
            if got_ids.size:
                pos = np.searchsorted(got_ids, ids[unknown])
                pos = np.minimum(pos, got_ids.size - 1)
                mean[unknown] = got_stats[pos, 0]
                std[unknown] = got_stats[pos, 1]
        out = snorm(sims, probe, (mean, std))
        out[ids < 0] = -np.inf
        return out


def scorer_for(store: CohortStore, calibration_cohort: str | None, model: str) -> HitScorer:
    """The scorer a calibration was made with: s-norm with its cohort, or cosine.

    Raises :class:`CalibrationError` when the calibration needs a cohort that is not there (a
    refresh was interrupted): scores without it would be read against the wrong thresholds.
    """
    if calibration_cohort is None:
        return HitScorer(None, model)
    cohort = store.load()
    if cohort is None or cohort.cohort_id != calibration_cohort:
        raise CalibrationError(
            gettext(
                "the calibration belongs to a score-normalisation cohort that is not "
                "stored (an update was interrupted): run `nextofkin calibrate` to "
                "recompute both",
            )
        )
    return HitScorer(cohort, model)
