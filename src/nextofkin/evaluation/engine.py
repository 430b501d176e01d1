"""Open-set searches over a protocol, in memory, with the product's own decisions.

The product searches a workspace's database and FAISS index. Ingesting a 5,000-account protocol
for every experiment would measure the database, not the recogniser, so the evaluation builds the
same gallery in memory from cached faces and applies the product's own rules: owner resolution
(:func:`nextofkin.gallery.owners.resolve_roles`), the probe face choice and multi-photo fusion
(:mod:`nextofkin.identify.search`) and account scores as the best owner-face similarity.

The options switch on the measured improvements (flip test-time augmentation, per-account
templates, score normalisation against the gallery), each off by default so a figure can be
recomputed with and without it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nextofkin.evaluation.backend import LinearBackend
from nextofkin.evaluation.cache import CachedFace, ImageFaces
from nextofkin.evaluation.metrics import Candidate, Search
from nextofkin.gallery.owners import FaceView, resolve_roles
from nextofkin.gallery.records import FaceRole
from nextofkin.identify.normalise import top_stats
from nextofkin.identify.search import fuse, pick_probe_face
from nextofkin.vision.dlib_models import DLIB_RESNET_SPEC
from nextofkin.vision.models import l2_normalise
from nextofkin.vision.types import Box, Face, Quality

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

TEMPLATES = ("max", "mean")
NORMALISATIONS = ("none", "snorm")
CENTRINGS = ("none", "mean", "whiten")


@dataclass(frozen=True)
class EngineOptions:
    """How faces become scores. Every option defaults to the plain product behaviour.

    ``flip``: average each face's embedding with its mirrored chip's embedding.
    ``template``: ``max`` scores an account by its best owner face, ``mean`` by the mean of its
    owner faces (one template per account).
    ``normalise``: ``snorm`` is adaptive symmetric normalisation against the gallery: the raw
    similarity is standardised both by the probe's top-``cohort`` similarities to the gallery and
    by the gallery face's own top-``cohort`` similarities to the rest of the gallery, and the two
    are averaged. It discounts probes and gallery faces that resemble everyone ("hubs").
    ``min_quality``: gallery faces below this quality are left out of the gallery.
    ``centre``: ``mean`` subtracts the gallery's mean vector before the cosine (dlib's vectors
    share a large common component, so raw cosines of strangers are high and crowded);
    ``whiten`` also whitens with the gallery's covariance (shrunk by ``shrink``). Both are learned
    from the gallery's vectors alone, without any identity labels.
    """

    flip: bool = False
    template: str = "max"
    normalise: str = "none"
    cohort: int = 100
    min_quality: float = 0.0
    top: int = 20  # candidates kept per search: enough for the CMC to rank 20
    centre: str = "none"
    shrink: float = 0.1

    def label(self) -> str:
        """A short name for tables: which options are on."""
        parts = []
        if self.centre != "none":
            parts.append(
                f"centre={self.centre}" + (f"({self.shrink:g})" if self.centre == "whiten" else "")
            )
        if self.flip:
            parts.append("flip")
        if self.template != "max":
            parts.append(f"template={self.template}")
        if self.normalise != "none":
            parts.append(f"{self.normalise}(k={self.cohort})")
        if self.min_quality > 0:
            parts.append(f"gallery quality>={self.min_quality:g}")
        return ", ".join(parts) or "baseline"


def face_vector(face: CachedFace, flip: bool) -> F32:
    """The face's vector, mean with its mirror image when ``flip`` is on (unit length)."""
    if not flip:
        return face.embedding
    out: F32 = l2_normalise((face.embedding + face.flipped)[None, :])[0]
    return out


def as_vision_face(face: CachedFace) -> Face:
    """A cached face as the vision pipeline's :class:`Face`, for the product's selection rules."""
    return Face(
        box=Box(*face.box),
        landmarks=np.asarray(face.landmarks, dtype=np.float32),
        detection_score=face.detection_score,
        quality=Quality(face.size, face.sharpness, face.pose, face.quality, face.eye_distance_px),
        embedding=face.embedding,
        rotation=face.rotation,
    )


def pick_probe(image: ImageFaces) -> CachedFace | None:
    """The face a probe photo is about, by the product's rule (largest, weighted by quality)."""
    if not image.faces:
        return None
    chosen = pick_probe_face([as_vision_face(f) for f in image.faces], image.width, image.height)
    return image.faces[[as_vision_face(f).box for f in image.faces].index(chosen.box)]


def owner_faces(images: Sequence[ImageFaces]) -> list[CachedFace]:
    """The owner's faces among one account's photos, by the product's owner resolution."""
    views: list[FaceView] = []
    flat: list[CachedFace] = []
    for image_id, image in enumerate(images):
        for face in image.faces:
            cx = (face.box[0] + face.box[2]) / 2 / max(image.width, 1)
            cy = (face.box[1] + face.box[3]) / 2 / max(image.height, 1)
            # 1 at the centre, 0 in a corner (as the ingest computes it).
            centrality = max(
                0.0, 1.0 - float(np.hypot(cx - 0.5, cy - 0.5)) / float(np.hypot(0.5, 0.5))
            )
            views.append(
                FaceView(
                    face_id=len(flat),
                    image_id=image_id,
                    vector=face.embedding,
                    area=face.area,
                    centrality=centrality,
                    quality=face.quality,
                    profile=False,
                )
            )
            flat.append(face)
    if not views:
        return []
    roles = resolve_roles(views, DLIB_RESNET_SPEC.same_person_similarity)
    return [flat[r.face_id] for r in roles if r.role == FaceRole.OWNER]


@dataclass
class Gallery:
    """The gallery as vectors: ``rows`` of face (or template) vectors, each owned by one account."""

    accounts: list[str]
    vectors: F32
    owner: npt.NDArray[np.int64]  # row -> index into accounts
    empty_accounts: list[str] = field(default_factory=list)
    cohort_mean: F32 | None = None
    cohort_std: F32 | None = None
    centre: F32 | None = None  # subtracted from every vector before the cosine
    whitening: F32 | None = None  # (dim, dim) applied after centring
    backend: LinearBackend | None = None  # a learned projection (WCCN, LDA) applied last

    def project(self, vectors: F32) -> F32:
        """Vectors in the space the gallery is scored in (centred/whitened/backend, unit length)."""
        if self.backend is not None:
            return self.backend.project(vectors)
        if self.centre is None:
            return vectors
        out = vectors - self.centre[None, :]
        if self.whitening is not None:
            out = out @ self.whitening
        projected: F32 = l2_normalise(out)
        return projected

    @property
    def size(self) -> int:
        """Number of accounts (including those without a usable face)."""
        return len(self.accounts) + len(self.empty_accounts)


def build_gallery(
    accounts: Sequence[tuple[str, Sequence[ImageFaces]]], options: EngineOptions
) -> Gallery:
    """Vectors of every account's owner faces (or one template per account)."""
    names: list[str] = []
    rows: list[F32] = []
    owner: list[int] = []
    empty: list[str] = []
    for account, images in accounts:
        faces = [f for f in owner_faces(images) if f.quality >= options.min_quality]
        if not faces:
            empty.append(account)
            continue
        vecs = np.stack([face_vector(f, options.flip) for f in faces])
        if options.template == "mean":
            weights = np.asarray([max(f.quality, 1e-3) for f in faces], dtype=np.float32)
            vecs = l2_normalise((vecs * weights[:, None]).sum(axis=0, keepdims=True))
        idx = len(names)
        names.append(account)
        rows.extend(vecs)
        owner.extend([idx] * len(vecs))
    dim = rows[0].shape[0] if rows else 128
    centre, whitening = _centring(rows, owner, options)
    if centre is not None:
        rows = list(_project_rows(np.stack(rows), centre, whitening))
    gallery = Gallery(
        accounts=names,
        vectors=np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32),
        owner=np.asarray(owner, dtype=np.int64),
        empty_accounts=empty,
        centre=centre,
        whitening=whitening,
    )
    if options.normalise == "snorm":
        gallery.cohort_mean, gallery.cohort_std = gallery_cohort(gallery, options.cohort)
    return gallery


def with_backend(gallery: Gallery, backend: LinearBackend, options: EngineOptions) -> Gallery:
    """A copy of an unprojected ``gallery`` scored in ``backend``'s space.

    Its vectors are projected once; probes are projected by :meth:`Gallery.project` when searched.
    Score normalisation statistics are recomputed in the new space.
    """
    if gallery.centre is not None or gallery.backend is not None:
        raise ValueError("a backend applies to a gallery without centring or another backend")
    out = Gallery(
        accounts=gallery.accounts,
        vectors=backend.project(gallery.vectors).astype(np.float32),
        owner=gallery.owner,
        empty_accounts=gallery.empty_accounts,
        backend=backend,
    )
    if options.normalise == "snorm":
        out.cohort_mean, out.cohort_std = gallery_cohort(out, options.cohort)
    return out


def _centring(
    rows: Sequence[F32], owner: Sequence[int], options: EngineOptions
) -> tuple[F32 | None, F32 | None]:
    if options.centre == "none" or not rows:
        return None, None
    stacked = np.stack(rows).astype(np.float64)
    # One vector per account, so prolific accounts do not define the centre.
    _, first = np.unique(np.asarray(owner), return_index=True)
    per_account = stacked[first]
    mean = per_account.mean(axis=0)
    if options.centre == "mean":
        return mean.astype(np.float32), None
    cov = np.cov((per_account - mean).T)
    # Shrink towards a scaled identity so rare directions are not blown up.
    target = np.trace(cov) / cov.shape[0]
    cov = (1 - options.shrink) * cov + options.shrink * target * np.eye(cov.shape[0])
    vals, vecs = np.linalg.eigh(cov)
    whitening = vecs @ np.diag(1.0 / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T
    return mean.astype(np.float32), whitening.astype(np.float32)


def _project_rows(rows: F32, centre: F32, whitening: F32 | None) -> F32:
    out = rows - centre[None, :]
    if whitening is not None:
        out = out @ whitening
    projected: F32 = l2_normalise(out)
    return projected


def gallery_cohort(gallery: Gallery, k: int, chunk: int = 2048) -> tuple[F32, F32]:
    """Each gallery row's mean and spread of its top-``k`` similarities to other accounts."""
    means: list[F32] = []
    stds: list[F32] = []
    for start in range(0, len(gallery.vectors), chunk):
        block = gallery.vectors[start : start + chunk] @ gallery.vectors.T
        # A face must not be its own (or its account's) cohort.
        same = gallery.owner[start : start + chunk, None] == gallery.owner[None, :]
        block[same] = -np.inf
        mu, sd = top_stats(block, k)
        means.append(mu)
        stds.append(sd)
    return np.concatenate(means), np.concatenate(stds)


def score_accounts(
    gallery: Gallery,
    probes: F32,
    options: EngineOptions,
    exclude: Sequence[int] | None = None,
    *,
    projected: bool = False,
) -> F32:
    """Account scores for each probe row, shape (probes, accounts).

    ``exclude[i]``, when given and >= 0, is an account left out of probe ``i``'s search (the
    leave-one-out impostor searches of calibration); its score is ``-inf``.
    """
    raw = (probes if projected else gallery.project(probes)) @ gallery.vectors.T
    if exclude is not None:
        mask = gallery.owner[None, :] == np.asarray(exclude)[:, None]
        raw[mask] = -np.inf
    scores = raw
    if options.normalise == "snorm":
        assert gallery.cohort_mean is not None and gallery.cohort_std is not None
        finite = np.where(np.isfinite(raw), raw, -np.inf)
        mu_p, sd_p = top_stats(finite, options.cohort)
        zp = (raw - mu_p[:, None]) / sd_p[:, None]
        zg = (raw - gallery.cohort_mean[None, :]) / gallery.cohort_std[None, :]
        scores = 0.5 * (zp + zg)
    # Best row per account (rows of one account are contiguous).
    n_acc = len(gallery.accounts)
    if len(gallery.owner) == n_acc:
        return scores.astype(np.float32)
    starts = np.flatnonzero(np.r_[True, gallery.owner[1:] != gallery.owner[:-1]])
    return np.maximum.reduceat(scores, starts, axis=1).astype(np.float32)


def top_candidates(gallery: Gallery, scores: F32, top: int) -> list[list[Candidate]]:
    """The best ``top`` accounts per probe row, best first."""
    k = min(top, scores.shape[1])
    if k == 0:
        return [[] for _ in range(scores.shape[0])]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    out = []
    for row, idx in zip(scores, part, strict=True):
        order = idx[np.argsort(-row[idx], kind="stable")]
        out.append(
            [
                Candidate(gallery.accounts[int(i)], round(float(row[i]), 5))
                for i in order
                if np.isfinite(row[i])
            ]
        )
    return out


@dataclass(frozen=True)
class ProbeInput:
    """One search: the probe photos' analysis (one or several photos of one body)."""

    name: str
    mate: str | None
    images: list[ImageFaces]


def probe_vector(images: Sequence[ImageFaces], options: EngineOptions) -> F32 | None:
    """The product's fused probe vector for several photos of one body (``None``: no face)."""
    chosen = [f for f in (pick_probe(im) for im in images) if f is not None]
    if not chosen:
        return None
    return fuse([face_vector(f, options.flip) for f in chosen], [f.quality for f in chosen])


def run_searches(
    gallery: Gallery, probes: Sequence[ProbeInput], options: EngineOptions, chunk: int = 1024
) -> list[Search]:
    """One :class:`Search` per probe, with its top candidates."""
    searches: list[Search] = [Search(p.name, p.mate) for p in probes]
    vectors: list[F32] = []
    rows: list[int] = []
    for i, probe in enumerate(probes):
        vec = probe_vector(probe.images, options)
        if vec is None:
            errors = {im.error for im in probe.images if im.error}
            searches[i].error = "; ".join(sorted(e for e in errors if e)) or "no face found"
            continue
        vectors.append(vec)
        rows.append(i)
    for start in range(0, len(rows), chunk):
        block = np.stack(vectors[start : start + chunk])
        scores = score_accounts(gallery, block, options)
        for i, cands in zip(
            rows[start : start + chunk], top_candidates(gallery, scores, options.top), strict=True
        ):
            searches[i].candidates = cands
    return searches


def gallery_impostor_top1(gallery: Gallery, options: EngineOptions, chunk: int = 1024) -> F32:
    """Leave-one-out impostor scores: each account's first owner row searched against all the
    other accounts; its top score is one draw of "a stranger against this gallery"."""
    first = np.flatnonzero(np.r_[True, gallery.owner[1:] != gallery.owner[:-1]])
    out: list[F32] = []
    for start in range(0, len(first), chunk):
        rows = first[start : start + chunk]
        scores = score_accounts(
            gallery,
            gallery.vectors[rows],
            options,
            exclude=gallery.owner[rows].tolist(),
            projected=True,
        )
        out.append(scores.max(axis=1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)
