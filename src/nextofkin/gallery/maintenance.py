"""The gallery's own derived data: owner roles of changed accounts, and the vector index.

What the identify layer derives on top (the score-normalisation cohort, the calibration) is
``nextofkin.identify.derived``, whose ``refresh_derived`` runs these first, at the end of every
ingest and purge.
"""

from __future__ import annotations

from sqlalchemy import select

from nextofkin.gallery.embedder import record_embedder, resolve_embedder
from nextofkin.gallery.index import FaissIndex, VectorIndex
from nextofkin.gallery.milvus_index import MilvusIndex
from nextofkin.gallery.owners import resolve_account
from nextofkin.gallery.records import Account
from nextofkin.vision.models import EmbedderSpec
from nextofkin.workspace import Workspace


def embedder_spec(workspace: Workspace) -> EmbedderSpec:
    """The spec of the workspace's embedder (recorded in it; see gallery/embedder.py)."""
    return resolve_embedder(workspace).spec


def open_index(workspace: Workspace) -> VectorIndex:
    """The workspace's vector index for its embedder, on the configured backend."""
    policy = workspace.settings.index
    embedder = resolve_embedder(workspace)
    index: VectorIndex
    if policy.backend == "milvus":
        index = MilvusIndex.open(workspace.index_dir, embedder.spec, policy=policy)
    else:
        index = FaissIndex.open(workspace.index_dir, embedder.spec, policy=policy)
    record_embedder(index, embedder)
    return index


def resolve_dirty_owners(workspace: Workspace, spec: EmbedderSpec) -> list[int]:
    """Resolve the owner roles of every account whose photos changed; returns their ids."""
    with workspace.session() as session:
        dirty = session.scalars(select(Account).where(Account.roles_dirty.is_(True))).all()
        for account in dirty:
            resolve_account(session, account, spec.name, spec.same_person_similarity)
        return [account.id for account in dirty]
