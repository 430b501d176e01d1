"""The vector index on Milvus: the same :class:`VectorIndex` operations over a collection.

Selected with ``NEXTOFKIN_INDEX__BACKEND=milvus``. ``NEXTOFKIN_INDEX__MILVUS_URI`` names the
server (``http://milvus.example:19530`` for a cluster) or a local Milvus Lite file (the default,
``index/milvus.db`` in the workspace, which is what the tests use). The collection holds one
row per face: its database id (primary key), its source (the export of the face's first
posting, the collection's *partition key*) and its unit vector, searched by inner product.

At scale: a source is purged by one delete by filter (``remove_source``); new faces go in by
batched inserts, not upserts; and ``milvus_reconcile.reconcile_milvus`` compares per-source
counts, then id-range counts, and lists ids only where those differ.
A collection made before the source field (no partition key) keeps working: it is reconciled by
listing its ids, and ``nextofkin reindex`` recreates it with the field.

Milvus keeps vectors, not our description; the description (model, alignment, dimension, index
type, calibration) lives in a sidecar JSON file in the workspace's index directory, keyed by the
collection name, written atomically like the FAISS index's. The database stays the source of
truth: :func:`nextofkin.gallery.index.reconcile` repairs the collection after any crash.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nextofkin.errors import ConfigError, IndexError_, ModelMismatch
from nextofkin.gallery.index_base import IndexDescription
from nextofkin.gallery.milvus_reconcile import reconcile_milvus
from nextofkin.i18n import _
from nextofkin.settings import IndexSettings
from nextofkin.vision.models import EmbedderSpec

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from nextofkin.gallery.index import ReconcileReport

log = logging.getLogger(__name__)

BATCH = 5_000
# Milvus caps one search's top-k (16384 on current servers and Milvus Lite).
MAX_TOP_K = 16_384


def _search_params(index_type: str, policy: IndexSettings) -> dict[str, Any]:
    kind = index_type.upper()
    params: dict[str, Any] = {}
    if kind.startswith("HNSW"):
        params["ef"] = policy.hnsw_ef_search
    elif kind.startswith("IVF"):
        params["nprobe"] = policy.ivf_nprobe
    return {"metric_type": "IP", "params": params}


class MilvusIndex:
    """A Milvus collection of face vectors keyed by face id, with a sidecar description."""

    def __init__(
        self,
        client: Any,
        collection: str,
        sidecar: Path,
        description: IndexDescription,
        policy: IndexSettings,
    ) -> None:
        self.client = client
        self.collection = collection
        self.sidecar = sidecar
        self.description = description
        self.policy = policy
        self.partitioned = True  # the collection has the ``source`` partition key

    @classmethod
    def open(cls, directory: Path, spec: EmbedderSpec, *, policy: IndexSettings) -> MilvusIndex:
        """Connect, create the collection if needed, and check the stored description."""
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover - pymilvus is a dependency
            raise ConfigError(_("the milvus backend needs the pymilvus package")) from exc
        directory.mkdir(parents=True, exist_ok=True)
        uri = policy.milvus_uri or str(directory / "milvus.db")
        collection = policy.milvus_collection
        sidecar = directory / f"milvus-{collection}.json"
        if sidecar.exists():
            try:
                description = IndexDescription.from_dict(
                    json.loads(sidecar.read_text(encoding="utf-8"))
                )
            except (OSError, ValueError, TypeError) as exc:
                raise IndexError_(
                    _(
                        "cannot read index description %(sidecar)s: %(exc)s",
                        sidecar=sidecar,
                        exc=exc,
                    )
                ) from exc
            description.check(spec)
        else:
            description = IndexDescription(
                spec.name, spec.alignment, spec.dim, factory=f"milvus:{policy.milvus_index_type}"
            )
        description.extra["milvus_uri"] = uri if "://" in uri else "milvus-lite"
        try:
            token = policy.milvus_token.get_secret_value() if policy.milvus_token else ""
            client = MilvusClient(uri=uri, token=token)
        except Exception as exc:  # pymilvus raises its own tree and grpc errors
            raise ConfigError(
                _("cannot connect to Milvus at %(uri)s: %(exc)s", uri=uri, exc=exc)
            ) from exc
        index = cls(client, collection, sidecar, description, policy)
        index._ensure_collection()
        return index

    def _ensure_collection(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.collection):
            info = self.client.describe_collection(self.collection)
            self.partitioned = any(f.get("name") == "source" for f in info.get("fields", []))
            for f in info.get("fields", []):
                dim = f.get("params", {}).get("dim")
                if (
                    f.get("name") == "vector"
                    and dim is not None
                    and int(dim) != self.description.dim
                ):
                    raise ModelMismatch(
                        _(
                            "Milvus collection %(collection)r holds %(dim)s-d vectors, not "
                            "%(dim2)s-d",
                            collection=self.collection,
                            dim=dim,
                            dim2=self.description.dim,
                        )
                    )
            self.client.load_collection(self.collection)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        # Milvus hashes partition-key values into partitions it manages: a source is then
        # deleted by a filter, and searches may be restricted to sources, without a partition
        # per source (which Milvus caps at a few thousand).
        schema.add_field("source", DataType.INT64, is_partition_key=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.description.dim)
        index_params = self.client.prepare_index_params()
        index_params.add_index(
            field_name="vector", index_type=self.policy.milvus_index_type, metric_type="IP"
        )
        # Strong consistency: a search right after an ingest or a purge sees its result.
        self.client.create_collection(
            self.collection,
            schema=schema,
            index_params=index_params,
            consistency_level="Strong",
        )
        self.client.load_collection(self.collection)

    # the VectorIndex protocol -----------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert unit vectors under integer ids (an id present already is replaced).

        Their source is unknown here (0); the next reconcile moves them to their source.
        """
        self.add_with_sources(ids, vectors, np.zeros(len(ids), dtype=np.int64), replace=True)

    def add_with_sources(
        self, ids: np.ndarray, vectors: np.ndarray, sources: np.ndarray, *, replace: bool = False
    ) -> None:
        """Bulk-insert new faces with their sources (``replace``: upsert ids that may exist)."""
        if len(ids) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.description.dim:
            raise ModelMismatch(
                _(
                    "vectors of shape %(shape)s do not fit a %(dim)s-d index",
                    shape=vectors.shape,
                    dim=self.description.dim,
                )
            )
        write = self.client.upsert if replace else self.client.insert
        for start in range(0, len(ids), BATCH):
            part = slice(start, start + BATCH)
            rows = [
                {"id": int(face_id), "vector": vector.tolist()}
                | ({"source": int(source)} if self.partitioned else {})
                for face_id, vector, source in zip(
                    ids[part], vectors[part], sources[part], strict=True
                )
            ]
            write(self.collection, rows)

    def remove_source(self, source_id: int) -> int:
        """Delete every face of a source by one filter; returns how many there were."""
        if not self.partitioned:
            raise IndexError_(
                _(
                    "Milvus collection %(collection)r has no source field: run `nextofkin "
                    "reindex` to recreate it, or purge by face ids",
                    collection=self.collection,
                )
            )
        present = self.count(f"source == {int(source_id)}")
        if present:
            self.client.delete(self.collection, filter=f"source == {int(source_id)}")
        return present

    def remove_purged_source(
        self, source_id: int, face_ids: Iterable[int], elsewhere: Iterable[int]
    ) -> int:
        """A purged source's vectors: every face filed under it by one delete by filter, and by
        id only the purged faces filed under another source (``elsewhere``: faces of its images
        that another export also posted, listed before the purge). Faces of such images that
        stay go back under their remaining source at the reconcile that follows every purge."""
        if not self.partitioned:
            return self.remove(face_ids)
        crossing = {int(i) for i in elsewhere} & {int(i) for i in face_ids}
        return self.remove_source(source_id) + self.remove(sorted(crossing))

    def count(self, where: str = "") -> int:
        """How many rows match a Milvus filter expression (all rows when empty)."""
        rows = self.client.query(self.collection, filter=where, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def ids_where(self, where: str) -> np.ndarray:
        """The ids of the rows matching a filter, sorted (paged by Milvus's iterator)."""
        iterator = self.client.query_iterator(
            self.collection, batch_size=10_000, filter=where, output_fields=["id"]
        )
        out: list[int] = []
        try:
            while True:
                page = iterator.next()
                if not page:
                    break
                out.extend(int(r["id"]) for r in page)
        finally:
            iterator.close()
        return np.asarray(sorted(out), dtype=np.int64)

    def reconcile_records(self, session: Session, chunk: int) -> ReconcileReport:
        """Make the collection hold exactly the database's faces (see ``milvus_reconcile``)."""
        return reconcile_milvus(self, session, chunk)

    def remove(self, ids: Iterable[int]) -> int:
        """Delete ids; returns how many were present."""
        wanted = sorted({int(i) for i in ids})
        present = 0
        for start in range(0, len(wanted), BATCH):
            part = wanted[start : start + BATCH]
            found = self.client.query(self.collection, filter=f"id in {part}", output_fields=["id"])
            if found:
                present += len(found)
                self.client.delete(self.collection, ids=[int(r["id"]) for r in found])
        return present

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, ids) per query row; missing slots have id -1."""
        queries = np.asarray(np.atleast_2d(vectors), dtype=np.float32)
        k = min(k, MAX_TOP_K)
        scores = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        found = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if k <= 0 or len(self) == 0:
            return scores, found
        results = self.client.search(
            self.collection,
            data=[q.tolist() for q in queries],
            limit=k,
            output_fields=["id"],
            search_params=_search_params(self.policy.milvus_index_type, self.policy),
        )
        for row, hits in enumerate(results):
            for col, hit in enumerate(hits):
                found[row, col] = int(hit["id"])
                scores[row, col] = float(hit["distance"])
        return scores, found

    def ids(self) -> np.ndarray:
        """Every id in the collection (a full listing: reconcile avoids it, see above)."""
        return self.ids_where("id >= 0")

    def __len__(self) -> int:
        return self.count()

    def save(self) -> None:
        """Flush the collection and write the sidecar description atomically."""
        self.client.flush(self.collection)
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps(self.description.to_dict(), indent=1), encoding="utf-8")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self.sidecar)

    def clear(self) -> None:
        """Drop and recreate the collection (``nextofkin reindex`` then refills it)."""
        self.client.drop_collection(self.collection)
        self._ensure_collection()

    def close(self) -> None:
        """Release the connection (and stop a Milvus Lite server this process started)."""
        self.client.close()
