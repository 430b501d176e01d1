"""How sure the kin engine is that a face is a given account's owner.

A face hit's confidence comes from the gallery's own calibration (:class:`FaceConfidence`); a face
is an account's owner when that account's owner face is its nearest among every owner face of the
gallery, clear of the next account's (:func:`nearest_owners`, :func:`confident`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nextofkin.identify.calibration import Calibration
from nextofkin.kin.links import Links

# Below this many impostor samples a calibration's tail is guesswork (tiny galleries).
MIN_CALIBRATION_SAMPLES = 200
# Face hits less likely than this to be the same person are not used at all.
MIN_CONFIDENCE = 0.5
# A nearest owner must beat the next account's owner by this much, unless it is this sure.
MIN_MARGIN = 0.03
SURE_ENOUGH = 0.9
# Owner columns per face searched for the runner-up before a full scan of that row.
RUNNER_UP_COLUMNS = 16
# Up to this many faces, nearest_owners_many scans with NumPy instead of building a FAISS index.
FEW_FACES = 256
# A face a positioned tag points at is the tagged account's: the poster said so. Not certain
# (people mis-tap), so not 1, but above every gate.
TAG_CONFIDENCE = 0.95


@dataclass(frozen=True)
class FaceConfidence:
    """The chance that a face hit is the same person, from the gallery's own calibration.

    The calibration measured how often a *stranger's* best match in this gallery scores at least
    a given similarity (FPIR); one minus that is the confidence that a hit this strong is not a
    stranger. Without a usable calibration (a gallery of a few dozen accounts), confidence rises
    linearly from the embedder's strict operating point to 1 over the next 0.06 of similarity.
    """

    calibration: Calibration | None
    strict: float

    def __call__(self, similarity: float) -> float:
        """Confidence in [0, 1] for one similarity."""
        if self.calibration is not None:
            return max(0.0, 1.0 - self.calibration.fpir(similarity))
        return min(1.0, max(0.0, (similarity - self.strict) / 0.06))

    @property
    def same_face(self) -> float:
        """Similarity above which another account's owner face is taken for the person's own."""
        if self.calibration is not None:
            return self.calibration.match_threshold
        return self.strict + 0.06


def nearest_owners(
    links: Links, vectors: np.ndarray, exclude: int | None = None
) -> list[tuple[int, float, float] | None]:
    """For each face vector: (account, similarity, runner-up similarity) of its nearest owner.

    The runner-up is the best similarity to any *other* account's owner faces; ``exclude`` (the
    poster's own account) takes no part. Vectorised: the runner-up is looked for among each
    row's best few columns, and only rows whose best few are all one account scan the rest.
    """
    if not len(links.owner_accounts):
        return [None] * len(vectors)
    owners = links.owner_accounts
    sims = vectors @ links.owner_vectors.T
    if exclude is not None:
        sims[:, owners == exclude] = -2.0
    rows = np.arange(len(sims))
    best = sims.argmax(axis=1)
    best_account = owners[best]
    best_sim = sims[rows, best]
    k = min(RUNNER_UP_COLUMNS, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    other = owners[top] != best_account[:, None]
    runner_up = np.where(other, top_sims, -np.inf).max(axis=1)
    for i in np.flatnonzero(~other.any(axis=1)):
        rest = sims[i, owners != best_account[i]]
        runner_up[i] = rest.max() if rest.size else -1.0
    return [
        (int(a), float(s), float(r))
        for a, s, r in zip(best_account, best_sim, runner_up, strict=True)
    ]


def nearest_owners_many(links: Links, vectors: np.ndarray) -> list[tuple[int, float, float] | None]:
    """:func:`nearest_owners` (no account left out) for many faces at once, such as every
    companion face of a gallery: an exact flat inner-product index over the owner faces gives
    each face's best few owner columns, already sorted, without a full similarity matrix; only
    faces whose best few are all one account are scanned in full."""
    owners = links.owner_accounts
    if not len(owners) or not len(vectors):
        return [None] * len(vectors)
    if len(vectors) <= FEW_FACES:
        # A query's few faces: a NumPy product beats building a FAISS index over every owner
        # face, whose threads also wait on each other on a loaded machine.
        return nearest_owners(links, vectors)
    import faiss  # heavy: loaded when a service first builds its family circle, not at import

    index = faiss.IndexFlatIP(links.owner_vectors.shape[1])
    index.add(np.ascontiguousarray(links.owner_vectors, dtype=np.float32))
    k = min(RUNNER_UP_COLUMNS, len(owners))
    top_sims, top = index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
    accounts = owners[top]
    other = accounts != accounts[:, :1]
    runner_up = np.where(other, top_sims, -np.inf).max(axis=1)
    for i in np.flatnonzero(~other.any(axis=1)):
        row = links.owner_vectors @ vectors[i]
        rest = row[owners != accounts[i, 0]]
        runner_up[i] = rest.max() if rest.size else -1.0
    best, sims, seconds = accounts[:, 0].tolist(), top_sims[:, 0].tolist(), runner_up.tolist()
    return [(int(a), float(s), float(r)) for a, s, r in zip(best, sims, seconds, strict=True)]


def confident(confidence: FaceConfidence, found: tuple[int, float, float]) -> bool:
    """Whether a nearest-owner match is usable: confident enough, and clear of the runner-up."""
    _, sim, runner_up = found
    sure = confidence(sim)
    return sure >= MIN_CONFIDENCE and (sim - runner_up >= MIN_MARGIN or sure >= SURE_ENOUGH)


def similarity_to_owner(links: Links, account: int, vector: np.ndarray) -> float | None:
    """The best similarity of a face to ``account``'s owner faces (None: it has none)."""
    rows = links.owner_vectors[links.owner_accounts == account]
    if not len(rows):
        return None
    return float((rows @ np.asarray(vector, np.float32)).max())
