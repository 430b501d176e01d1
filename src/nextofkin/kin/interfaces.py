"""The contract the kin layer offers the layers above: who is related to an account.

Callers (notify's recipient proposals, the case report) are typed with :class:`KinFinder`;
:class:`nextofkin.kin.engine.KinService` is the implementation, and tests may hand in a stand-in.
Kept apart from the engine so that naming the contract does not import FAISS and numpy.
"""

from __future__ import annotations

from typing import Protocol

from nextofkin.kin.results import KinResult


class KinFinder(Protocol):
    """Ranks the accounts related to one account, with the evidence for each relation."""

    def kin(self, account: str, *, source: str | None = None, top: int = 10) -> KinResult:
        """The ``top`` relations of ``account`` (``source`` when the id is not unique)."""
        ...
