"""The FAISS index: an ``IndexIDMap2`` in the workspace's index directory, saved atomically.

See :mod:`nextofkin.gallery.index` for the design (index by size, tombstones, generations).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.diskspace import fsync_dir, fsync_file, write_atomically
from nextofkin.errors import IndexError_, ModelMismatch
from nextofkin.gallery.index_base import (
    _GENERATION_PREFIX,
    DESCRIPTION_FILE,
    INDEX_FILE,
    IndexDescription,
    IndexPlan,
    ProgressFn,
    _embeddings_in_order,
    _faiss,
    _find,
    _train_size,
    embeddings_by_ids,
    faiss_search_params,
    read_description,
    search_params,
)
from nextofkin.gallery.records import Face
from nextofkin.i18n import gettext
from nextofkin.settings import IndexSettings
from nextofkin.vision.models import EmbedderSpec

log = logging.getLogger(__name__)

# --- FAISS -------------------------------------------------------------------------------------


class FaissIndex:
    """A FAISS ``IndexIDMap2`` stored in the workspace's index directory (see module docstring)."""

    def __init__(
        self,
        directory: Path,
        description: IndexDescription,
        index: Any,
        *,
        tombstones: Iterable[int] = (),
        policy: IndexSettings | None = None,
    ) -> None:
        self.directory = directory
        self.description = description
        self.policy = policy or IndexSettings()
        self._index = index
        self._tombstones: set[int] = {int(t) for t in tombstones}
        self._data_dirty = False
        self._tombstones_dirty = False
        self._removable: bool | None = None

    # construction -----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: Path,
        spec: EmbedderSpec,
        factory: str | IndexPlan | None = None,
        *,
        policy: IndexSettings | None = None,
    ) -> FaissIndex:
        """A new, empty index for vectors of ``spec`` (default: exact, grown by reconcile)."""
        description = IndexDescription(spec.name, spec.alignment, spec.dim)
        if factory is None:
            factory = IndexPlan("Flat", search_params(policy or IndexSettings()), auto=True)
        return cls._empty(directory, description, factory, policy)

    @classmethod
    def _empty(
        cls,
        directory: Path,
        like: IndexDescription,
        factory: str | IndexPlan,
        policy: IndexSettings | None,
    ) -> FaissIndex:
        policy = policy or IndexSettings()
        plan = (
            factory
            if isinstance(factory, IndexPlan)
            else IndexPlan(factory, search_params(policy), auto=False)
        )
        faiss = _faiss()
        try:
            base = faiss.index_factory(like.dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexError_(
                gettext(
                    "FAISS cannot build index %(factory)r: %(exc)s", factory=plan.factory, exc=exc
                )
            ) from exc
        hnsw = _find(base, faiss.IndexHNSW)
        if hnsw is not None and "efConstruction" in plan.params:
            hnsw.hnsw.efConstruction = int(plan.params["efConstruction"])
        for kind in (faiss.IndexIVFPQ, faiss.IndexPQ):
            pq = _find(base, kind)
            if pq is not None:
                # Polysemous codes serve Hamming pre-filtering, which we do not use; training
                # them costs about a minute whatever the sample size.
                pq.do_polysemous_training = False
        description = IndexDescription(
            like.model,
            like.alignment,
            like.dim,
            factory=plan.factory,
            calibration=like.calibration,
            extra=dict(like.extra),
            params={k: v for k, v in plan.params.items() if k != "efConstruction"},
            build={"auto": plan.auto, "requested": plan.factory},
        )
        made = cls(directory, description, faiss.IndexIDMap2(base), policy=policy)
        made._data_dirty = True
        return made

    @classmethod
    def open(
        cls, directory: Path, spec: EmbedderSpec, *, policy: IndexSettings | None = None
    ) -> FaissIndex:
        """The stored index, or a new empty one if none exists; refuses another model's index."""
        desc_path = directory / DESCRIPTION_FILE
        # A concurrent save may delete the data file between reading the description and the
        # file: read the description again and retry with the generation it names now.
        for _attempt in range(5):
            if not desc_path.exists():
                return cls.create(directory, spec, policy=policy)
            description = read_description(desc_path)
            description.check(spec)
            index_path = directory / description.file
            try:
                if not index_path.exists():
                    raise FileNotFoundError(index_path)
                index = _faiss().read_index(str(index_path))
                tombstones: list[int] = []
                if description.tombstones_file:
                    tombstones = np.load(directory / description.tombstones_file).tolist()
            except FileNotFoundError:
                if read_description(desc_path).file != description.file:
                    continue  # a newer generation was committed meanwhile
                return cls._unreadable(directory, description, policy, "data file missing")
            except (RuntimeError, OSError, ValueError) as exc:
                return cls._unreadable(directory, description, policy, str(exc))
            return cls(directory, description, index, tombstones=tombstones, policy=policy)
        raise IndexError_(
            gettext(
                "index in %(directory)s keeps changing under this reader; try again",
                directory=directory,
            )
        )

    @classmethod
    def _unreadable(
        cls,
        directory: Path,
        description: IndexDescription,
        policy: IndexSettings | None,
        why: str,
    ) -> FaissIndex:
        # The database is the source of truth: an empty index is refilled by reconcile().
        log.warning("index data %s unusable (%s); it will be rebuilt", description.file, why)
        plan = IndexPlan("Flat", search_params(policy or IndexSettings()), auto=True)
        fresh = cls._empty(directory, description, plan, policy)
        fresh.description.build["requested"] = ""  # reconcile() rebuilds it at the right size
        return fresh

    # the VectorIndex protocol -----------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit vectors under integer ids (ids must not be live in the index already)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.description.dim:
            raise ModelMismatch(
                gettext(
                    "vectors of shape %(shape)s do not fit a %(dim)s-d index",
                    shape=vectors.shape,
                    dim=self.description.dim,
                )
            )
        id_array = np.ascontiguousarray(ids, dtype=np.int64)
        if self._tombstones and not self._tombstones.isdisjoint(id_array.tolist()):
            # The dead copy of an id that comes back must go before the id is added again.
            self.compact()
        if not self._index.is_trained:
            self.train(vectors)
        self._index.add_with_ids(vectors, id_array)
        self._data_dirty = True

    def train(self, sample: np.ndarray) -> None:
        """Train the codebooks / inverted lists on a representative ``sample`` of vectors."""
        need = _train_size(self.description.factory, self.description.dim)
        if len(sample) < need:
            raise IndexError_(
                gettext(
                    "index %(factory)r needs at least %(need)s training vectors, got "
                    "%(n_sample)s; use a smaller index type (e.g. `nextofkin reindex "
                    "--factory Flat`)",
                    factory=self.description.factory,
                    need=need,
                    n_sample=len(sample),
                )
            )
        self._index.train(np.ascontiguousarray(sample, dtype=np.float32))
        self._data_dirty = True

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids (tombstones where the index type cannot); returns how many were live."""
        wanted = np.unique(np.fromiter((int(i) for i in ids), dtype=np.int64))
        if wanted.size == 0:
            return 0
        present = wanted[np.isin(wanted, self.ids(), assume_unique=True)]
        if present.size == 0:
            return 0
        if self._can_remove():
            removed = int(self._index.remove_ids(_faiss().IDSelectorBatch(present)))
            self._data_dirty = True
            return removed
        self._tombstones.update(present.tolist())
        self._tombstones_dirty = True
        if len(self._tombstones) > self.policy.tombstone_fraction * max(self._index.ntotal, 1):
            self.compact()
        return int(present.size)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, ids) per query row; missing slots have id -1."""
        queries = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        live = len(self)
        if live == 0 or k <= 0:
            shape = (queries.shape[0], max(k, 0))
            return np.full(shape, -np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int64)
        k = min(k, live)
        params, keep_alive = faiss_search_params(
            self._index, self.description.params, self._tombstones, k
        )
        scores, ids = self._index.search(queries, k, params=params)
        del keep_alive  # the selectors had to outlive the search call
        return scores, ids

    def ids(self) -> np.ndarray:
        """Every live id in the index."""
        all_ids = np.asarray(_faiss().vector_to_array(self._index.id_map), dtype=np.int64)
        if not self._tombstones:
            return all_ids
        dead = np.fromiter(self._tombstones, dtype=np.int64)
        return all_ids[~np.isin(all_ids, dead)]

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._tombstones)

    @property
    def is_trained(self) -> bool:
        """Whether the index type's codebooks / lists are trained (Flat and HNSW always are)."""
        return bool(self._index.is_trained)

    def write_data(self, path: Path) -> None:
        """The FAISS data alone (no description, no tombstones) written to ``path``, as saved."""
        _faiss().write_index(self._index, str(path))

    @property
    def tombstones(self) -> int:
        """How many removed ids still occupy space until the next compaction."""
        return len(self._tombstones)

    # persistence ------------------------------------------------------------------------------

    def save(self) -> None:
        """Persist atomically (see the module docstring); writes the data only if it changed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        generation = uuid.uuid4().hex[:12]
        desc = self.description
        if self._data_dirty or not (self.directory / desc.file).exists():
            name = f"{_GENERATION_PREFIX}{generation}.faiss"
            tmp = self.directory / (name + ".tmp")
            self.write_data(tmp)
            fsync_file(tmp)
            tmp.replace(self.directory / name)
            desc.file = name
            self._tombstones_dirty = True
        if self._tombstones_dirty:
            if self._tombstones:
                name = f"{_GENERATION_PREFIX}{generation}.tomb.npy"
                tmp = self.directory / (name + ".tmp")
                with tmp.open("wb") as handle:
                    np.save(handle, np.fromiter(sorted(self._tombstones), dtype=np.int64))
                fsync_file(tmp)
                tmp.replace(self.directory / name)
                desc.tombstones_file = name
            else:
                desc.tombstones_file = None
        desc.build["live"] = len(self)
        desc.build["tombstones"] = len(self._tombstones)
        # The description's rename is the commit point.
        write_atomically(
            self.directory / DESCRIPTION_FILE, json.dumps(desc.to_dict(), indent=1).encode()
        )
        fsync_dir(self.directory)
        self._data_dirty = self._tombstones_dirty = False
        self._remove_stale()

    def remove_other_generations(self) -> list[str]:
        """Delete every data file but the current generation's, however recent; the names.

        After a purge, an older generation (kept a minute for concurrent savers) still holds
        the purged vectors. A concurrent save loses its file and fails; the next open rebuilds
        from the database, which is the truth.
        """
        keep = {DESCRIPTION_FILE, self.description.file, self.description.tombstones_file}
        removed = []
        for path in self.directory.iterdir():
            ours = path.name.startswith(_GENERATION_PREFIX) or path.name.startswith(INDEX_FILE)
            if ours and path.name not in keep:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return sorted(removed)

    def _remove_stale(self) -> None:
        # A file written in the last minute may belong to another process's save that has not
        # committed its description yet: leave it for a later save to collect.
        keep = {DESCRIPTION_FILE, self.description.file, self.description.tombstones_file}
        cutoff = time.time() - 60
        for path in self.directory.iterdir():
            ours = path.name.startswith(_GENERATION_PREFIX) or path.name == INDEX_FILE
            if not ours or path.name in keep:
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                continue

    # rebuilding -------------------------------------------------------------------------------

    def compact(self) -> None:
        """Rebuild the index without its tombstones, from its own (exact) stored vectors."""
        if not self._tombstones:
            return
        started = time.monotonic()
        faiss = _faiss()
        old = self._index
        all_ids = np.asarray(faiss.vector_to_array(old.id_map), dtype=np.int64)
        keep = ~np.isin(all_ids, np.fromiter(self._tombstones, dtype=np.int64))
        fresh = faiss.clone_index(old)  # keeps what was trained (lists, codebooks)
        fresh.reset()
        step = 100_000
        try:
            for start in range(0, all_ids.size, step):
                stop = min(start + step, all_ids.size)
                mask = keep[start:stop]
                if not mask.any():
                    continue
                vectors = old.index.reconstruct_n(start, stop - start)
                fresh.add_with_ids(vectors[mask], all_ids[start:stop][mask])
        except RuntimeError as exc:
            raise IndexError_(
                gettext(
                    "index %(factory)r cannot be compacted from its own vectors (%(exc)s); "
                    "run `nextofkin reindex`",
                    factory=self.description.factory,
                    exc=exc,
                )
            ) from exc
        log.info(
            "compacted index: %d tombstones dropped in %.1f s",
            len(self._tombstones),
            time.monotonic() - started,
        )
        self._index = fresh
        self._tombstones = set()
        self._data_dirty = True

    def rebuild(
        self,
        session: Session,
        plan: IndexPlan,
        *,
        chunk: int = 50_000,
        progress: ProgressFn | None = None,
        seed: int = 0,
    ) -> int:
        """Replace the contents with every face of this model in the database, as ``plan``.

        Training vectors are a uniform random sample of the faces (not the first ones ingested,
        which may all come from one source). Returns how many faces the new index holds.
        """
        started = time.monotonic()
        model = self.description.model
        db_ids = np.fromiter(
            session.scalars(select(Face.id).where(Face.model == model).order_by(Face.id)),
            dtype=np.int64,
        )
        need = _train_size(plan.factory, self.description.dim)
        requested = plan.factory
        if need and db_ids.size < need:
            log.warning(
                "%d faces cannot train %s (needs %d): using exact Flat until the gallery grows",
                db_ids.size,
                plan.factory,
                need,
            )
            plan = IndexPlan("Flat", plan.params, auto=plan.auto)
        self._index = None  # free the old index first: its files stay on disk until the save
        fresh = FaissIndex._empty(self.directory, self.description, plan, self.policy)
        if need and db_ids.size >= need:
            fresh._train_on_sample(session, db_ids, need, chunk, seed)
        done = 0
        if progress:
            progress(0, int(db_ids.size))
        for ids, vectors in _embeddings_in_order(session, model, chunk):
            fresh.add(ids, vectors)
            done += len(ids)
            if progress:
                progress(done, int(db_ids.size))
        self._index = fresh._index
        self._tombstones = set()
        self._removable = None
        self._data_dirty = True
        self._tombstones_dirty = True
        self.description.factory = plan.factory
        self.description.params = dict(fresh.description.params)
        self.description.build = {
            "auto": plan.auto,
            "requested": requested,
            "faces": done,
            "seconds": round(time.monotonic() - started, 2),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        log.info("rebuilt index as %s with %d faces", plan.factory, done)
        return done

    # internals --------------------------------------------------------------------------------

    def _train_on_sample(
        self, session: Session, db_ids: np.ndarray, need: int, chunk: int, seed: int
    ) -> None:
        """Train on a uniform random sample of the faces ``db_ids`` (at least ``need``)."""
        rng = np.random.default_rng(seed)
        size = min(db_ids.size, max(self.policy.train_max, need))
        sample_ids = np.sort(rng.choice(db_ids, size=size, replace=False))
        sample = np.concatenate(
            [v for _, v in embeddings_by_ids(session, sample_ids, chunk)]
            or [np.zeros((0, self.description.dim), np.float32)]
        )
        self.train(sample)

    def _can_remove(self) -> bool:
        if self._removable is None:
            faiss = _faiss()
            base = faiss.downcast_index(self._index.index)
            # IndexIDMap2.remove_ids is only right when the inner index renumbers what stays, as
            # the flat-code indexes do. HNSW and refine wrappers throw; IVF removes without
            # renumbering, which would leave the id map pointing at the wrong vectors.
            self._removable = isinstance(base, faiss.IndexFlatCodes)
        return self._removable
