"""What a search finds, as typed records: probe faces, candidate accounts with evidence, sightings.

Kept apart from the search itself (numpy, FAISS) so that the layers that store and show results
(cases, notify, web, CLI) can name them cheaply. A stored search comes back from the database as
these same records (:meth:`Candidate.from_json`, :meth:`ProbeFace.from_json`), never as dicts read
by string keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Annotated, Any, TypeVar

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

T = TypeVar("T")

# A result field kept for the case record but never serialised (pydantic reads these markers when
# the API returns a result; plain dataclass code ignores them).
Hidden = Annotated[T, Field(exclude=True), SkipJsonSchema()]


@dataclass
class ProbeFace:
    """The face used from one probe photo."""

    photo: str
    box: list[float]
    rotation: int
    detection_score: float
    quality: float
    faces_in_photo: int
    tried: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeFace:
        """The record as stored in JSON (keys it does not know, e.g. a case's own, are ignored)."""
        return cls(**_known(cls, data))


@dataclass
class Evidence:
    """One gallery face that matched the probe."""

    face_id: int
    photo_id: int
    photo: str
    image_path: str
    box: list[float]
    similarity: float
    score: float
    role: str
    kind: str
    caption: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        """The record as stored in JSON."""
        return cls(**_known(cls, data))


@dataclass
class Candidate:
    """One account that may be the person, with what its score means."""

    account_id: int
    account: str
    source: str
    name: str | None
    url: str | None
    score: float
    similarity: float | None  # the cosine similarity (None in searches stored before it was kept)
    decision: str
    fpir: float
    meaning: str
    evidence: list[Evidence] = field(default_factory=list)
    # Score minus the best *other* account's: how clearly this account stands out. A top
    # candidate barely ahead of the next is weak evidence whatever its score (look-alikes).
    margin: float | None = None

    @property
    def ref(self) -> str:
        """The account reference ``source/account`` that reviews and messages name."""
        return f"{self.source}/{self.account}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Candidate:
        """The record as stored in JSON (a stored search's ``candidates``), evidence included."""
        known = _known(cls, data)
        known.setdefault("similarity", None)
        known["evidence"] = [Evidence.from_json(e) for e in data.get("evidence") or []]
        return cls(**known)


@dataclass
class Sighting:
    """The probe's face appears as a companion in another account's photo."""

    account_id: int
    account: str
    face_id: int
    photo: str
    similarity: float
    score: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sighting:
        """The record as stored in JSON (a stored search's ``params["sightings"]``)."""
        return cls(**_known(cls, data))


@dataclass(frozen=True, kw_only=True)
class SearchCalibration:
    """The calibration a search decided with, as the search result and the stored search keep it.

    Stored searches are JSON written by earlier versions and by test fixtures, some with only the
    thresholds: a field that was not stored reads as ``None`` and :meth:`to_json` leaves it out
    again, so the stored and shown JSON keep exactly the keys they had.
    """

    method: str | None = None
    match_threshold: float
    possible_threshold: float
    match_fpir: float | None = None
    possible_fpir: float | None = None
    measured_on_accounts: int | None = None
    score_kind: str | None = None
    notes: tuple[str, ...] | None = None
    # The calibration's sample count, read when a stored search has it (the search itself does
    # not write it today); never serialised unless present.
    samples: Hidden[int | None] = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form, in the order the search writes it; fields never stored are left out."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.notes is not None:
            data["notes"] = list(self.notes)
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchCalibration:
        """The record as stored in JSON (a stored search's ``params["calibration"]``)."""
        known = _known(cls, data)
        if known.get("notes") is not None:
            known["notes"] = tuple(known["notes"])
        return cls(**known)


@dataclass
class SearchResult:
    """Everything a search found, ready for the CLI, the API and the case record."""

    probes: list[ProbeFace]
    candidates: list[Candidate]
    sightings: list[Sighting]
    gallery_accounts: int
    gallery_faces: int
    model: str
    calibration: SearchCalibration
    score_kind: str = "cosine"
    # The fused probe vector and the highest face id of the index it was searched against: what a
    # case keeps so that later rescans compare only newer faces (cases/standing.py). Never shown:
    # left out of to_dict and of every API response and schema (a face template is biometric).
    probe_vector: Hidden[tuple[float, ...] | None] = field(default=None, repr=False, compare=False)
    watermark: Hidden[int | None] = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (without the probe vector and watermark)."""
        data = asdict(replace(self, probe_vector=None))
        del data["probe_vector"], data["watermark"]
        data["calibration"] = self.calibration.to_json()
        return data


def _known(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """The items of ``data`` that are fields of the dataclass ``cls``.

    Stored searches are JSON written by earlier versions too: a key that a record no longer has
    is dropped, and a field added since (with a default) takes its default.
    """
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
