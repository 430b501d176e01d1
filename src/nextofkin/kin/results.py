"""What the kin engine returns: related accounts with scores, reasons and evidence photos."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nextofkin.kin.scoring import Declaration


@dataclass
class EvidencePhoto:
    """A photo that supports a relation."""

    photo_id: int
    account: str  # who posted it
    photo: str  # path relative to the gallery root
    why: str  # "companion", "appears", "tag"
    caption: str | None
    posted_at: str | None
    similarity: float | None
    tag: str | None = None  # "point" or "box" when a positioned tag pins the face


@dataclass
class KinRelation:
    """One related account, with its score, suggested relation, reasons and evidence."""

    account: str
    account_id: int
    source: str
    name: str | None
    city: str | None
    contacts: dict[str, str]
    score: float
    relation: str
    kinship: str | None
    reasons: list[str]
    evidence: list[EvidencePhoto]
    declared: list[Declaration] = field(default_factory=list)


@dataclass(frozen=True)
class SameFaceAccount:
    """Another account whose owner has the person's face: a second account, or a look-alike
    such as a sibling; never counted as a relative."""

    account: str
    account_id: int
    similarity: float


@dataclass
class KinResult:
    """Everything the kin engine found for one account."""

    account: str
    account_id: int
    source: str
    name: str | None
    owner_faces: int
    thresholds: dict[str, float]
    relations: list[KinRelation]
    same_face_accounts: list[SameFaceAccount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``nextofkin kin --json``."""
        return asdict(self)
