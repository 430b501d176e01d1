"""A case as the services hand it out: typed records of its photos, searches and decisions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import PlainSerializer
from sqlalchemy.orm import Session

from nextofkin.cases.records import CaseDecision, CasePhoto, CaseSearch
from nextofkin.cases.states import CaseState, get_case
from nextofkin.identify.results import Candidate, ProbeFace, SearchCalibration, Sighting


@dataclass(frozen=True)
class PhotoInfo:
    """A probe photo of a case."""

    ordinal: int
    original_name: str
    stored_path: str
    sha256: str
    size_bytes: int
    added_by: str
    added_at: datetime


@dataclass
class StoredProbe(ProbeFace):
    """A probe face as a case keeps it: the photo is the case's stored copy when it is one."""

    case_photo: int | None = None  # the ordinal of the case's photo
    sha256: str | None = None  # the custody hash of that photo

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredProbe:
        """The record as stored in a search's ``probe_faces``."""
        base = ProbeFace.from_json(data)
        return cls(**asdict(base), case_photo=data.get("case_photo"), sha256=data.get("sha256"))


def stored_candidates(search: CaseSearch) -> list[Candidate]:
    """A stored search's candidates, read back as the records the search returned."""
    return [Candidate.from_json(c) for c in search.candidates or []]


def stored_probes(search: CaseSearch) -> list[StoredProbe]:
    """A stored search's probe faces, read back as typed records."""
    return [StoredProbe.from_json(p) for p in search.probe_faces or []]


@dataclass(frozen=True)
class SearchParams:
    """What a stored search keeps beside its candidates and probe faces (the row's ``params``).

    A key the stored JSON lacks (``top`` when no limit was asked; older rows) reads as ``None``
    and :meth:`to_json` leaves it out again, so the CLI's and the API's JSON keep the stored keys.
    """

    top: int | None = None
    calibration: SearchCalibration | None = None
    gallery_faces: int | None = None
    sightings: list[Sighting] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form the search row stores, in the order the search writes it."""
        data: dict[str, Any] = {}
        if self.top is not None:
            data["top"] = self.top
        if self.calibration is not None:
            data["calibration"] = self.calibration.to_json()
        if self.gallery_faces is not None:
            data["gallery_faces"] = self.gallery_faces
        if self.sightings is not None:
            data["sightings"] = [asdict(s) for s in self.sightings]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchParams:
        """The record as the search row stores it."""
        calibration, sightings = data.get("calibration"), data.get("sightings")
        return cls(
            top=data.get("top"),
            calibration=SearchCalibration.from_json(calibration) if calibration else None,
            gallery_faces=data.get("gallery_faces"),
            sightings=None if sightings is None else [Sighting.from_json(s) for s in sightings],
        )


# The API shows a search's params as the row stores them (keys it lacks stay out, as in the CLI).
ShownParams = Annotated[
    SearchParams, PlainSerializer(SearchParams.to_json, return_type=dict[str, Any])
]


@dataclass(frozen=True)
class SearchInfo:
    """One search of a case."""

    id: int
    run_by: str
    run_at: datetime
    model: str | None
    gallery_size: int | None
    params: ShownParams
    probe_faces: list[StoredProbe]
    candidates: list[Candidate]

    @property
    def calibration(self) -> SearchCalibration | None:
        """The calibration the search used, as it stored it (thresholds, rates, sample count)."""
        return self.params.calibration

    @property
    def sightings(self) -> list[Sighting]:
        """Where the probe appears as a companion in other accounts' photos (typed records)."""
        return list(self.params.sightings or [])


@dataclass(frozen=True)
class DecisionInfo:
    """One reviewer decision."""

    id: int
    account_ref: str
    account_id: int | None
    decision: str
    reviewer: str
    reason: str | None
    candidate_decision: str | None
    score: float | None
    search_id: int | None
    at: datetime


@dataclass
class CaseInfo:
    """A case with its photos, searches and decisions."""

    number: str
    state: CaseState
    found_at: str | None
    place: str | None
    notes: str | None
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    identified_ref: str | None
    closed_reason: str | None
    photos: list[PhotoInfo] = field(default_factory=list)
    searches: list[SearchInfo] = field(default_factory=list)
    decisions: list[DecisionInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        data = asdict(self)
        data["state"] = self.state.value
        for search, shown in zip(self.searches, data["searches"], strict=True):
            shown["params"] = search.params.to_json()
        return data


@dataclass(frozen=True)
class CaseSummary:
    """One line of ``case list``."""

    number: str
    state: CaseState
    found_at: str | None
    place: str | None
    photos: int
    searches: int
    opened_at: datetime
    identified_ref: str | None


def photo_info(photo: CasePhoto) -> PhotoInfo:
    return PhotoInfo(
        ordinal=photo.ordinal,
        original_name=photo.original_name,
        stored_path=photo.stored_path,
        sha256=photo.sha256,
        size_bytes=photo.size_bytes,
        added_by=photo.added_by,
        added_at=photo.added_at,
    )


def search_info(search: CaseSearch) -> SearchInfo:
    return SearchInfo(
        id=search.id,
        run_by=search.run_by,
        run_at=search.run_at,
        model=search.model,
        gallery_size=search.gallery_size,
        params=SearchParams.from_json(search.params or {}),
        probe_faces=stored_probes(search),
        candidates=stored_candidates(search),
    )


def decision_info(decision: CaseDecision) -> DecisionInfo:
    return DecisionInfo(
        id=decision.id,
        account_ref=decision.account_ref,
        account_id=decision.account_id,
        decision=decision.decision,
        reviewer=decision.reviewer,
        reason=decision.reason,
        candidate_decision=decision.candidate_decision,
        score=decision.score,
        search_id=decision.search_id,
        at=decision.at,
    )


def case_photos(session: Session, number: str) -> list[PhotoInfo]:
    """A case's photos, in order, without reading its stored searches (a search needs only these,
    and a case with many searches would otherwise decode every one of them first)."""
    return [photo_info(p) for p in get_case(session, number).photos]


def case_info(session: Session, number: str) -> CaseInfo:
    """Everything recorded about a case (no permission check, no audit: see :func:`view_case`)."""
    case = get_case(session, number)
    return CaseInfo(
        number=case.number,
        state=CaseState(case.state),
        found_at=case.found_at,
        place=case.place,
        notes=case.notes,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        identified_ref=case.identified_ref,
        closed_reason=case.closed_reason,
        photos=[photo_info(p) for p in case.photos],
        searches=[search_info(s) for s in case.searches],
        decisions=[decision_info(d) for d in case.decisions],
    )
