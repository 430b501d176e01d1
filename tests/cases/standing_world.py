"""A small synthetic world for standing-search tests (imported as ``cases.standing_world``).

Galleries come in batches written straight into the database (``scale.synthetic``: no images, no
models); a case's probe is a noisy view of one batch account's centre, searched with the product's
own :class:`~nextofkin.identify.search.Searcher` and attached with the case service, so the case
keeps exactly what a real search leaves behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cases.casework import photo
from nextofkin.cases.service import attach_search, open_case
from nextofkin.gallery.maintenance import open_index
from nextofkin.identify.derived import cohort_store, refresh_derived
from nextofkin.identify.search import ProbeFace, Searcher
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace
from scale.synthetic import SyntheticGallery, populate, unit


def batch_centres(ws: Workspace, accounts: int, seed: int) -> np.ndarray:
    """The account centres :func:`populate` draws for ``accounts`` and ``seed`` (its first draw),
    so a case can be opened for a person before their accounts arrive."""
    dim = default_registry().embedder(ws.settings.vision.embedder).spec.dim
    rng = np.random.default_rng(seed)
    return unit(rng.standard_normal((accounts, dim)))


def add_batch(
    ws: Workspace, source: str, accounts: int, seed: int, faces: int = 3
) -> SyntheticGallery:
    """One ingest's worth of accounts, then the derived data an ingest refreshes."""
    gallery = populate(ws, accounts, faces, seed=seed, source=source, spread=0.9)
    refresh_derived(ws)
    return gallery


def body_probe(centre: np.ndarray, seed: int, noise: float = 0.9) -> np.ndarray:
    """A post-mortem view of the person whose accounts centre on ``centre``."""
    rng = np.random.default_rng(10_000 + seed)
    return unit(
        centre[None, :] + rng.standard_normal((1, centre.size)) * noise / np.sqrt(centre.size)
    )[0]


def open_searched_case(
    ws: Workspace, tmp: Path, number: str, probe: np.ndarray, user: str = "ivan"
) -> None:
    """Open case ``number`` and attach a search of ``probe`` against the gallery as it is now."""
    picture = photo(tmp / f"{number}.jpg", seed=abs(hash(number)) % 997)
    with ws.session() as session:
        open_case(session, ws, user, number, [picture])
        searcher = Searcher(session, open_index(ws), cohorts=cohort_store(ws))
        probes = [ProbeFace(str(picture), [0.0, 0.0, 1.0, 1.0], 0, 1.0, 0.9, 1, [])]
        result = searcher.search_vector(probe.astype(np.float32), probes, 10)
        attach_search(session, ws, user, number, result)


def add_people(ws: Workspace, source: str, people: dict[str, np.ndarray], seed: int) -> None:
    """Accounts named after ``people``, three owner faces each around the given centre, then
    the derived data an ingest refreshes (for batches that bring chosen people)."""
    from sqlalchemy import select

    from nextofkin.gallery.records import (
        Account,
        Face,
        FaceRole,
        FaceRoleRecord,
        Image,
        Photo,
        Source,
    )

    rng = np.random.default_rng(seed)
    spec = default_registry().embedder(ws.settings.vision.embedder).spec
    with ws.session() as session:
        src = session.scalars(select(Source).where(Source.name == source)).one_or_none()
        if src is None:
            src = Source(name=source, root=f"/synthetic/{source}", layout="manifest")
            session.add(src)
            session.flush()
        for name, centre in people.items():
            account = Account(source_id=src.id, external_id=name, roles_dirty=False)
            session.add(account)
            session.flush()
            noise = rng.standard_normal((3, centre.size)) * (0.9 / np.sqrt(centre.size))
            for j, vector in enumerate(unit(centre[None, :] + noise)):
                image = Image(
                    sha256=f"{source}-{name}-{j}-{seed}".ljust(64, "0")[:64],
                    path=f"/synthetic/{source}/{name}/{j}.jpg",
                    width=100, height=100, size_bytes=1000, detector="synthetic", tried=[],
                )  # fmt: skip
                session.add(image)
                session.flush()
                session.add(
                    Photo(
                        source_id=src.id, account_id=account.id, rel_path=f"{name}/{j}.jpg",
                        status="done", image_id=image.id,
                    )
                )  # fmt: skip
                face = Face(
                    image_id=image.id, ordinal=0, left=10.0, top=10.0, right=90.0, bottom=90.0,
                    landmarks=[], detection_score=1.0, quality=0.9, quality_parts={},
                    rotation=0, model=spec.name, alignment=spec.alignment, embedding=vector,
                )  # fmt: skip
                session.add(face)
                session.flush()
                session.add(
                    FaceRoleRecord(
                        account_id=account.id, face_id=face.id, role=FaceRole.OWNER.value,
                        confidence=1.0, cluster=0,
                    )
                )  # fmt: skip
    refresh_derived(ws)
