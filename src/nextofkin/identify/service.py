"""The identify service used by the CLI and the API: a workspace in, a search result out."""

from __future__ import annotations

from pathlib import Path

from nextofkin.gallery.embedder import resolve_embedder, workspace_vision
from nextofkin.gallery.maintenance import cohort_store, open_index
from nextofkin.identify.search import Searcher, SearchResult
from nextofkin.vision.models import default_registry
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.workspace import Workspace


class IdentifyService:
    """Holds the loaded models and index of one workspace, so repeated searches stay warm."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        registry = default_registry()
        # Probes must be embedded by the model the gallery's faces were made with.
        vision = workspace_vision(workspace, resolve_embedder(workspace, registry))
        self.pipeline = FacePipeline.from_settings(vision, registry)
        self.index = open_index(workspace)

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        """Search the gallery for the person in ``photos`` (several photos of one body)."""
        vision = self.workspace.settings.vision
        with self.workspace.session() as session:
            searcher = Searcher(
                session,
                self.index,
                self.pipeline,
                max_pixels=vision.max_pixels,
                max_bytes=vision.max_bytes,
                cohorts=cohort_store(self.workspace),
            )
            return searcher.identify(photos, top)
