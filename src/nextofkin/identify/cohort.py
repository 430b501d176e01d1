"""Where a workspace's score-normalisation cohort lives.

Its own small module, not in :mod:`nextofkin.identify.derived`: that one drives ingests and so
imports the whole ingest chain (importers, ingest lock), which a search never needs. The service,
standing rescans and evaluation reach the cohort from here; ``derived`` re-exports it.
"""

from __future__ import annotations

from nextofkin.identify.normalise import CohortStore
from nextofkin.workspace import Workspace


def cohort_store(workspace: Workspace) -> CohortStore:
    """Where the workspace's score-normalisation cohort lives (beside the index)."""
    return CohortStore(workspace.index_dir / "snorm")
