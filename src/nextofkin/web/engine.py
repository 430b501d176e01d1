"""The warm search engine of a running server: models loaded once, the index kept current.

Loaded in the application's lifespan hook (never at import). Searches are serialised by a lock:
the face models are not safe to call from several threads at once, and on a small machine one
search at a time is also the fastest. When an ingest or purge (another process) rewrites the index
files, the next search reopens the index instead of searching a stale one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nextofkin.errors import ModelError
from nextofkin.workspace import Workspace

if TYPE_CHECKING:
    from nextofkin.identify.search import SearchResult
    from nextofkin.kin.engine import KinService

log = logging.getLogger(__name__)


class Identifier(Protocol):
    """What the case service needs to run a search (``IdentifyService`` or a stand-in)."""

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        """Search the gallery for the person in ``photos``."""
        ...


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
            from nextofkin.identify.service import IdentifyService

            self._service = IdentifyService(self.workspace)
        log.info("search engine ready")

    def _refresh_index_locked(self) -> None:
        stamp = _index_stamp(self.workspace.index_dir)
        if stamp == self._stamp:
            return
        service = self._service
        from nextofkin.identify.service import IdentifyService

        if isinstance(service, IdentifyService):
            from nextofkin.gallery.maintenance import open_index

            service.index = open_index(self.workspace)
            log.info("index changed on disk: reopened (%d faces)", len(service.index))
        self._stamp = stamp

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        """Run one search (serialised), loading the models first if the server has not yet."""
        with self._lock:
            if self._service is None:
                self._load_locked()
            self._refresh_index_locked()
            if self._service is None:  # pragma: no cover - _load_locked sets it or raises
                raise ModelError("the search engine could not be loaded")
            return self._service.identify(photos, top=top)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off searches while the caller rewrites the index (e.g. a purge)."""
        with self._lock:
            yield

    def kin(self) -> KinService:
        """The kin engine (gallery-wide lookups kept warm), rebuilt when the index changes."""
        from nextofkin.kin.engine import KinService

        with self._lock:
            stamp = _index_stamp(self.workspace.index_dir)
            if self._kin is None or stamp != self._kin_stamp:
                self._kin = KinService(self.workspace)
                self._kin_stamp = stamp
            return self._kin
