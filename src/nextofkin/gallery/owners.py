"""Owner resolution: which faces in an account are the account owner's, which are companions'.

The owner is the person whose face recurs across the account's photos. Faces are clustered by
similarity (the embedder's own same-person operating point); the cluster seen in the most distinct
photos is the owner's. When no face recurs, the account's profile photo (or its only photo) gives
the owner as its most prominent face; a single face in a one-photo account is the owner's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nextofkin.gallery.records import (
    Account,
    Face,
    FaceRole,
    FaceRoleRecord,
    Image,
    Photo,
    PhotoStatus,
)


@dataclass(frozen=True)
class FaceView:
    """What owner resolution needs to know about one face in one account."""

    face_id: int
    image_id: int
    vector: np.ndarray
    area: float
    centrality: float  # 1 at the image centre, 0 at a corner
    quality: float
    profile: bool


@dataclass(frozen=True)
class RoleDecision:
    """The role given to one face, with the cluster it fell in and how sure we are."""

    face_id: int
    role: FaceRole
    cluster: int
    confidence: float


def _clusters(vectors: np.ndarray, threshold: float) -> list[int]:
    """Average-linkage clusters cut at ``threshold`` similarity.

    Average linkage rather than connected components: one look-alike pair above the threshold
    must not chain a companion into the owner's cluster.
    """
    if len(vectors) == 1:
        return [0]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    distances = np.clip(pdist(vectors.astype(np.float64), metric="cosine"), 0.0, 2.0)
    tree = linkage(distances, method="average")
    labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    remap: dict[int, int] = {}
    return [remap.setdefault(int(label), len(remap)) for label in labels]


def _prominence(face: FaceView) -> float:
    return face.area * (0.5 + face.centrality) * (0.5 + face.quality)


def resolve_roles(faces: list[FaceView], same_person: float) -> list[RoleDecision]:
    """Decide owner / companion / unknown for every face of one account."""
    if not faces:
        return []
    labels = _clusters(np.stack([f.vector for f in faces]), same_person)
    images_per_cluster: dict[int, set[int]] = defaultdict(set)
    for face, label in zip(faces, labels, strict=True):
        images_per_cluster[label].add(face.image_id)
    n_images = len({f.image_id for f in faces})
    ranked = sorted(
        images_per_cluster,
        key=lambda c: (
            len(images_per_cluster[c]),
            any(f.profile for f, lab in zip(faces, labels, strict=True) if lab == c),
            sum(_prominence(f) for f, lab in zip(faces, labels, strict=True) if lab == c),
        ),
        reverse=True,
    )
    top = ranked[0]
    top_count = len(images_per_cluster[top])
    runner_up = len(images_per_cluster[ranked[1]]) if len(ranked) > 1 else 0
    owner_cluster: int | None = None
    confidence = 0.0
    if top_count >= 2 and top_count > runner_up:
        owner_cluster = top
        confidence = top_count / n_images
    else:
        # No face recurs (or two recur equally): fall back to the profile photo, or the only photo.
        pool = [f for f in faces if f.profile] or (faces if n_images == 1 else [])
        if pool:
            best = max(pool, key=_prominence)
            owner_cluster = labels[faces.index(best)]
            alone = len(pool) == 1
            confidence = 0.9 if alone else 0.5
    decisions: list[RoleDecision] = []
    owner_faces: set[int] = set()
    if owner_cluster is not None:
        owner_faces = _owner_face_per_image(
            [f for f, lab in zip(faces, labels, strict=True) if lab == owner_cluster]
        )
    for face, label in zip(faces, labels, strict=True):
        if owner_cluster is None:
            role, conf = FaceRole.UNKNOWN, 0.0
        elif face.face_id in owner_faces:
            role, conf = FaceRole.OWNER, confidence
        else:
            role, conf = FaceRole.COMPANION, confidence
        decisions.append(RoleDecision(face.face_id, role, label, round(conf, 3)))
    return decisions


def _owner_face_per_image(members: list[FaceView]) -> set[int]:
    """The owner's face in each image of the owner cluster ``members``.

    One image can hold two faces of the owner cluster (look-alikes, siblings, a mirror): the
    owner there is the face most like the owner's faces in the account's *other* images.
    """

    def affinity(face: FaceView) -> float:
        others = [m.vector for m in members if m.image_id != face.image_id]
        if not others:
            return _prominence(face)
        return float(np.mean(np.stack(others) @ face.vector))

    owner_face_per_image: dict[int, int] = {}
    for face in members:
        current = owner_face_per_image.get(face.image_id)
        if current is None or affinity(face) > affinity(
            next(f for f in members if f.face_id == current)
        ):
            owner_face_per_image[face.image_id] = face.face_id
    return set(owner_face_per_image.values())


def account_faces(session: Session, account_id: int, model: str) -> list[FaceView]:
    """Every face in the account's ingested photos, once per distinct image."""
    rows = session.execute(
        select(Face, Image.width, Image.height, Photo.kind)
        .join(Image, Face.image_id == Image.id)
        .join(Photo, Photo.image_id == Image.id)
        .where(
            Photo.account_id == account_id,
            Photo.status == PhotoStatus.DONE,
            Face.model == model,
        )
    ).all()
    seen: dict[int, FaceView] = {}
    for face, width, height, kind in rows:
        cx = (face.left + face.right) / 2 / max(width, 1)
        cy = (face.top + face.bottom) / 2 / max(height, 1)
        centrality = 1.0 - min(1.0, float(np.hypot(cx - 0.5, cy - 0.5)) / 0.7071)
        view = FaceView(
            face_id=face.id,
            image_id=face.image_id,
            vector=face.embedding,
            area=(face.right - face.left) * (face.bottom - face.top),
            centrality=centrality,
            quality=face.quality,
            profile=kind == "profile" or (seen.get(face.id) is not None and seen[face.id].profile),
        )
        seen[face.id] = view
    return sorted(seen.values(), key=lambda f: f.face_id)


def resolve_account(session: Session, account: Account, model: str, same_person: float) -> int:
    """Recompute the roles of one account's faces; returns how many faces it has."""
    faces = account_faces(session, account.id, model)
    session.execute(delete(FaceRoleRecord).where(FaceRoleRecord.account_id == account.id))
    for decision in resolve_roles(faces, same_person):
        session.add(
            FaceRoleRecord(
                account_id=account.id,
                face_id=decision.face_id,
                role=decision.role.value,
                confidence=decision.confidence,
                cluster=decision.cluster,
            )
        )
    account.roles_dirty = False
    return len(faces)
