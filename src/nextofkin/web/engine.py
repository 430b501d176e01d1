"""The warm search engine of a running server: models loaded once, the index kept current.

Loaded in the application's lifespan hook (never at import). A search has two halves. The probe
photos are analysed (decoded, faces found and embedded) in a bounded pool of worker processes,
each search with a time and a memory budget (:mod:`nextofkin.identify.probe_pool`), so one
hostile or huge upload is stopped on its own and cannot starve the others. The gallery half
(fusion, index, scores: fast, bounded by the gallery) is serialised by a lock, which also guards
the index: when an ingest or purge (another process) rewrites the index files, the next search
reopens the index instead of searching a stale one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from nextofkin.errors import ModelError
from nextofkin.gallery.maintenance import open_index
from nextofkin.i18n import _
from nextofkin.identify.interfaces import Identifier
from nextofkin.identify.probe_pool import ProbePool, model_pool
from nextofkin.identify.results import SearchResult
from nextofkin.identify.service import IdentifyService, ProbeAnalyser
from nextofkin.kin.engine import KinService
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


def _index_stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    if not directory.is_dir():
        return ()
    return tuple(
        sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.iterdir())
    )


class SearchEngine:
    """One loaded identify service per server, shared by every request."""

    def __init__(
        self, workspace: Workspace, factory: Callable[[Workspace], Identifier] | None = None
    ) -> None:
        self.workspace = workspace
        self._factory = factory
        self._lock = threading.Lock()
        self._service: Identifier | None = None
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._kin: KinService | None = None
        self._kin_stamp: tuple[tuple[str, int, int], ...] = ()
        self._pool: ProbePool[FacePipeline] | None = None

    @property
    def loaded(self) -> bool:
        """Whether the models are in memory."""
        return self._service is not None

    def load(self) -> None:
        """Load the models and the index now (the server's lifespan hook calls this)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        self._stamp = _index_stamp(self.workspace.index_dir)
        if self._factory is not None:
            self._service = self._factory(self.workspace)
        else:
            service = IdentifyService(self.workspace)
            if self._pool is None:
                self._pool = model_pool(service.vision, self.workspace.settings.search)
            service.analyser = self._pool
            self._service = service
        log.info("search engine ready")

    def _refresh_index_locked(self) -> None:
        stamp = _index_stamp(self.workspace.index_dir)
        if stamp == self._stamp:
            return
        service = self._service
        if isinstance(service, IdentifyService):
            service.index = open_index(self.workspace)
            log.info("index changed on disk: reopened (%d faces)", len(service.index))
        self._stamp = stamp

    def probe_analyser(self) -> ProbeAnalyser:
        """What finds faces in photos for this server: the worker pool (loaded if need be), or
        a stand-in identifier's own ``analyser`` (tests); inquiries use it for their sweeps."""
        with self._lock:
            if self._service is None:
                self._load_locked()
            analyser = getattr(self._service, "analyser", None)
        if analyser is None:
            raise ModelError(_("the search engine has no photo analyser"))
        return cast("ProbeAnalyser", analyser)

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        """Run one search, loading the engine first if the server has not yet.

        The probe analysis runs in the worker pool, outside the lock, so searches overlap up to
        the pool's size; one over its budget raises :class:`OverBudget`, a full pool
        :class:`Busy`. A stand-in identifier (tests) runs whole, under the lock.
        """
        with self._lock:
            if self._service is None:
                self._load_locked()
            service = self._service
            if service is None:  # pragma: no cover - _load_locked sets it or raises
                raise ModelError(_("the search engine could not be loaded"))
            if not isinstance(service, IdentifyService):
                self._refresh_index_locked()
                return service.identify(photos, top=top)
        analyses = service.analyser.analyse(photos)
        with self._lock:
            self._refresh_index_locked()
            return service.search(analyses, top=top)

    def close(self) -> None:
        """Stop the search workers (the server's lifespan hook calls this when it stops)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off searches while the caller rewrites the index (e.g. a purge)."""
        with self._lock:
            yield

    def kin(self) -> KinService:
        """The kin engine (gallery-wide lookups kept warm), rebuilt when the index changes."""
        with self._lock:
            stamp = _index_stamp(self.workspace.index_dir)
            if self._kin is None or stamp != self._kin_stamp:
                self._kin = KinService(self.workspace)
                self._kin_stamp = stamp
            return self._kin
