"""The contract the identify layer offers the layers above: what running a search needs.

Callers (a case's search, a batch of cases, the web server's warm engine) are typed with
:class:`Identifier`, never with ``Any``; :class:`nextofkin.identify.service.IdentifyService` is the
implementation, and tests may hand in a stand-in. Kept apart from the service so that naming the
contract does not import the models.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nextofkin.identify.search import SearchResult


class Identifier(Protocol):
    """Searches the gallery for the person in some probe photos."""

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        """The ranked accounts for the person in ``photos`` (NoFaceFound if none is found)."""
        ...
