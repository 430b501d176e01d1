"""Synthetic galleries written straight into a workspace's database (no images, no models).

Each account owns a few faces whose unit vectors cluster around the account's own centre, so
that searches have a right answer. Rows are inserted in bulk, which is fast enough for tens of
thousands of faces on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert, select

from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord, Image, Source
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace


@dataclass
class SyntheticGallery:
    """What was written: face ids per account and each account's centre (a perfect probe)."""

    source: str
    faces: dict[str, list[int]]
    centres: dict[str, np.ndarray]


def unit(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32."""
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def populate(
    ws: Workspace,
    accounts: int,
    faces_per_account: int = 3,
    *,
    seed: int = 0,
    source: str = "synthetic",
    spread: float = 0.35,
) -> SyntheticGallery:
    """Write ``accounts`` accounts with ``faces_per_account`` owner faces each."""
    spec = default_registry().embedder(ws.settings.vision.embedder).spec
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((accounts, spec.dim)))
    noise = rng.standard_normal((accounts, faces_per_account, spec.dim)) * (
        spread / np.sqrt(spec.dim)
    )
    vectors = unit((centres[:, None, :] + noise).reshape(-1, spec.dim)).reshape(
        accounts, faces_per_account, spec.dim
    )
    names = [f"{source}-{i:06d}" for i in range(accounts)]
    with ws.session() as session:
        src = Source(name=source, root=f"/synthetic/{source}", layout="manifest")
        session.add(src)
        session.flush()
        session.execute(
            insert(Account),
            [{"source_id": src.id, "external_id": n, "roles_dirty": False} for n in names],
        )
        account_ids = {
            row[0]: row[1]
            for row in session.execute(
                select(Account.external_id, Account.id).where(Account.source_id == src.id)
            )
        }
        session.execute(
            insert(Image),
            [
                {
                    "sha256": f"{source}-{n}-{j}".ljust(64, "0")[:64],
                    "path": f"/synthetic/{source}/{n}/{j}.jpg",
                    "width": 100,
                    "height": 100,
                    "size_bytes": 1000,
                    "detector": "synthetic",
                    "tried": [],
                }
                for n in names
                for j in range(faces_per_account)
            ],
        )
        image_ids = {
            row[0]: row[1]
            for row in session.execute(
                select(Image.path, Image.id).where(Image.path.like(f"/synthetic/{source}/%"))
            )
        }
        session.execute(
            insert(Face),
            [
                {
                    "image_id": image_ids[f"/synthetic/{source}/{n}/{j}.jpg"],
                    "ordinal": 0,
                    "left": 10.0,
                    "top": 10.0,
                    "right": 90.0,
                    "bottom": 90.0,
                    "landmarks": [],
                    "detection_score": 1.0,
                    "quality": 0.9,
                    "quality_parts": {},
                    "rotation": 0,
                    "model": spec.name,
                    "alignment": spec.alignment,
                    "embedding": vectors[i, j],
                }
                for i, n in enumerate(names)
                for j in range(faces_per_account)
            ],
        )
        rows = session.execute(
            select(Face.id, Image.path)
            .join(Image, Image.id == Face.image_id)
            .where(Image.path.like(f"/synthetic/{source}/%"))
        ).all()
        faces: dict[str, list[int]] = {n: [] for n in names}
        for face_id, path in rows:
            faces[path.split("/")[-2]].append(int(face_id))
        session.execute(
            insert(FaceRoleRecord),
            [
                {
                    "account_id": account_ids[n],
                    "face_id": face_id,
                    "role": FaceRole.OWNER.value,
                    "confidence": 1.0,
                    "cluster": 0,
                }
                for n, ids in faces.items()
                for face_id in ids
            ],
        )
    return SyntheticGallery(
        source, {n: sorted(v) for n, v in faces.items()}, dict(zip(names, centres, strict=True))
    )


def purge_accounts(ws: Workspace, names: list[str]) -> list[int]:
    """Delete accounts with their images and faces (what a purge does to the records)."""
    with ws.session() as session:
        rows = session.execute(
            select(Face.id, Face.image_id)
            .join(FaceRoleRecord, FaceRoleRecord.face_id == Face.id)
            .join(Account, Account.id == FaceRoleRecord.account_id)
            .where(Account.external_id.in_(names))
        ).all()
        face_ids = sorted({int(r[0]) for r in rows})
        image_ids = sorted({int(r[1]) for r in rows})
        for image in session.scalars(select(Image).where(Image.id.in_(image_ids))):
            session.delete(image)
        for account in session.scalars(select(Account).where(Account.external_id.in_(names))):
            session.delete(account)
    return face_ids
