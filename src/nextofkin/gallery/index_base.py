"""The vector index's shared parts: its description, the protocol every backend implements,
the choice of FAISS index type by gallery size, and paged reads of stored embeddings.

See :mod:`nextofkin.gallery.index` for the design (index by size, deletions, atomic saves).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.errors import IndexError_, ModelMismatch
from nextofkin.gallery.records import Face
from nextofkin.i18n import gettext
from nextofkin.settings import IndexSettings
from nextofkin.vision.models import EmbedderSpec

INDEX_FILE = "faces.faiss"  # the data file of indexes saved before generation names
DESCRIPTION_FILE = "faces.json"
_GENERATION_PREFIX = "faces-"

ProgressFn = Callable[[int, int], None]

TIER_FLAT, TIER_HNSW, TIER_IVF = 0, 1, 2


@dataclass
class IndexDescription:
    """What the vectors in an index are, how it is built, and the calibration of its scores."""

    model: str
    alignment: str
    dim: int
    factory: str = "Flat"
    metric: str = "inner_product"
    calibration: dict[str, Any] | None = None
    # The same impostor searches in cosine similarity: face-to-face confidence (kin) reads it.
    similarity_calibration: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)  # efSearch, nprobe, k_factor
    build: dict[str, Any] = field(default_factory=dict)  # faces, seconds, auto, requested
    file: str = INDEX_FILE
    tombstones_file: str | None = None

    def check(self, spec: EmbedderSpec) -> None:
        """Raise :class:`ModelMismatch` unless vectors of ``spec`` belong in this index."""
        if (spec.name, spec.alignment, spec.dim) != (self.model, self.alignment, self.dim):
            raise ModelMismatch(
                gettext(
                    "index holds %(model)s/%(alignment)s/%(dim)s-d vectors, not "
                    "%(name)s/%(alignment2)s/%(dim2)s-d; use the workspace's model (the "
                    "faces were embedded with it) or another workspace",
                    model=self.model,
                    alignment=self.alignment,
                    dim=self.dim,
                    name=spec.name,
                    alignment2=spec.alignment,
                    dim2=spec.dim,
                )
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexDescription:
        """Read a stored description; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


class VectorIndex(Protocol):
    """The operations the rest of nextofkin needs from a vector store."""

    description: IndexDescription

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit vectors under integer ids."""
        ...

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids; returns how many were present."""
        ...

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, ids) per query row; missing slots have id -1."""
        ...

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        ...

    def __len__(self) -> int: ...

    def save(self) -> None:
        """Persist atomically."""
        ...


def _faiss() -> Any:
    import faiss

    return faiss


# --- which index for which size ----------------------------------------------------------------


@dataclass(frozen=True)
class IndexPlan:
    """A FAISS factory string with its search parameters, chosen for a gallery size."""

    factory: str
    params: dict[str, float]
    auto: bool  # chosen from the size (False: forced by settings or --factory)

    @property
    def tier(self) -> int:
        """0 exact, 1 graph, 2 inverted lists (the order a growing gallery moves through)."""
        return factory_tier(self.factory)


def factory_tier(factory: str) -> int:
    """The size tier a factory string belongs to."""
    upper = factory.upper()
    if upper.startswith("IVF") or ",IVF" in upper:
        return TIER_IVF
    if "HNSW" in upper or "NSG" in upper:
        return TIER_HNSW
    return TIER_FLAT


def ivf_lists(n_faces: int) -> int:
    """Inverted lists for ``n_faces``: a power of two near 2·√n (FAISS's usual 1-16·√n range).

    The low end keeps k-means training and assignment affordable on a small machine; re-ranking
    on exact vectors recovers the recall that coarser lists cost.
    """
    target = 2.0 * math.sqrt(max(n_faces, 1))
    return int(min(65536, max(256, 2 ** round(math.log2(target)))))


def search_params(policy: IndexSettings) -> dict[str, float]:
    """The search-time parameters of every index type, from the settings."""
    return {
        "efSearch": policy.hnsw_ef_search,
        "nprobe": policy.ivf_nprobe,
        "k_factor": policy.refine_k_factor,
    }


def plan_index(n_faces: int, policy: IndexSettings, factory: str | None = None) -> IndexPlan:
    """The index for a gallery of ``n_faces``: ``factory`` or the settings' one if given."""
    params = search_params(policy)
    forced = factory or policy.factory
    if forced:
        return IndexPlan(forced, params, auto=False)
    if n_faces <= policy.flat_max_faces:
        return IndexPlan("Flat", params, auto=True)
    if n_faces <= policy.hnsw_max_faces:
        params["efConstruction"] = policy.hnsw_ef_construction
        return IndexPlan(f"HNSW{policy.hnsw_m},Flat", params, auto=True)
    # An HNSW coarse quantizer makes assigning millions of vectors to lists ~10x cheaper.
    factory = f"IVF{ivf_lists(n_faces)}_HNSW32,PQ{policy.pq_bytes},RFlat"
    return IndexPlan(factory, params, auto=True)


def _train_size(factory: str, dim: int) -> int:
    """The fewest vectors that can train ``factory`` (0: needs no training)."""
    index = _faiss().index_factory(dim, factory, _faiss().METRIC_INNER_PRODUCT)
    if index.is_trained:
        return 0
    need = 256  # a PQ/SQ codebook of 8-bit codes
    for part in factory.replace("_", ",").split(","):
        if part.upper().startswith("IVF"):
            digits = "".join(ch for ch in part[3:] if ch.isdigit())
            if digits:
                need = max(need, int(digits))
    return need


def _find(index: Any, kind: Any) -> Any:
    """The first index of type ``kind`` inside ``index`` (through refine wrappers), or None."""
    faiss = _faiss()
    current = faiss.downcast_index(index)
    for _ in range(4):
        if isinstance(current, kind):
            return current
        if isinstance(current, faiss.IndexRefine):
            current = faiss.downcast_index(current.base_index)
        elif isinstance(current, faiss.IndexIDMap):
            current = faiss.downcast_index(current.index)
        else:
            return None
    return None


def read_description(path: Path) -> IndexDescription:
    """The description stored at ``path``; IndexError_ when it cannot be read."""
    try:
        return IndexDescription.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise IndexError_(
            gettext("cannot read index description %(path)s: %(exc)s", path=path, exc=exc)
        ) from exc


def _embeddings_in_order(
    session: Session, model: str, chunk: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (ids, vectors) of ``model`` by id ranges (keyset pages: cheap on any database)."""
    last = -1
    while True:
        rows = session.execute(
            select(Face.id, Face.embedding)
            .where(Face.model == model, Face.id > last)
            .order_by(Face.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        last = int(rows[-1][0])
        yield (
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            np.stack([r[1] for r in rows]).astype(np.float32, copy=False),
        )


def embeddings_by_ids(
    session: Session, ids: np.ndarray, chunk: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) of the faces ``ids`` in bounded pages (order within a page unspecified)."""
    # Bound the IN list: SQLite allows 32,766 parameters, psycopg 65,535.
    step = min(chunk, 20_000)
    for start in range(0, ids.size, step):
        part = ids[start : start + step].tolist()
        rows = session.execute(select(Face.id, Face.embedding).where(Face.id.in_(part))).all()
        if rows:
            yield (
                np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                np.stack([r[1] for r in rows]).astype(np.float32, copy=False),
            )


def faiss_search_params(
    index: Any, params: dict[str, float], tombstones: set[int], k: int
) -> tuple[Any, list[Any]]:
    """FAISS search parameters for ``index``'s type (an ``IndexIDMap2``), with a filter that
    leaves out ``tombstones``; the second value must outlive the search call."""
    faiss = _faiss()
    keep_alive: list[Any] = []
    selector = None
    if tombstones:
        dead = faiss.IDSelectorBatch(np.fromiter(tombstones, dtype=np.int64))
        live = faiss.IDSelectorNot(dead)
        # Translated by hand so that nested parameters (refine → IVF) see external ids.
        selector = faiss.IDSelectorTranslated(index.id_map, live)
        keep_alive += [dead, live, selector]
    base = faiss.downcast_index(index.index)
    refine = isinstance(base, faiss.IndexRefine)
    inner = faiss.downcast_index(base.base_index) if refine else base
    inner_params: Any
    if isinstance(inner, faiss.IndexHNSW):
        inner_params = faiss.SearchParametersHNSW()
        inner_params.efSearch = max(int(params.get("efSearch", 128)), k)
    elif isinstance(inner, faiss.IndexIVF):
        inner_params = faiss.SearchParametersIVF()
        inner_params.nprobe = int(params.get("nprobe", 64))
        quantizer = faiss.downcast_index(inner.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            # The lists to visit come from an HNSW search over the centroids; at its default
            # beam width it misses some of the nearest lists, which costs recall for little.
            coarse = faiss.SearchParametersHNSW()
            coarse.efSearch = max(2 * inner_params.nprobe, 128)
            inner_params.quantizer_params = coarse
            keep_alive.append(coarse)
    else:
        inner_params = faiss.SearchParameters()
    if selector is not None:
        inner_params.sel = selector
    keep_alive.append(inner_params)
    if not refine:
        return inner_params, keep_alive
    outer = faiss.IndexRefineSearchParameters()
    outer.k_factor = float(params.get("k_factor", 16))
    outer.base_index_params = inner_params
    keep_alive.append(outer)
    return outer, keep_alive
