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
from nextofkin.gallery.maintenance import cohort_store, open_index, refresh_derived
from nextofkin.identify.search import ProbeFace, Searcher
from nextofkin.vision.models import default_registry
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
