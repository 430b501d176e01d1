"""Helpers shared by the case, review and notification tests (imported as ``cases.casework``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session

from nextofkin.identify.search import (
    Candidate,
    Evidence,
    ProbeFace,
    SearchCalibration,
    SearchResult,
)
from nextofkin.users.service import add_user


def add_team(session: Session) -> None:
    """admin ``ada``, investigator ``ivan``, reviewers ``rita`` and ``rob``."""
    add_user(session, None, "ada", "admin")
    add_user(session, "ada", "ivan", "investigator")
    add_user(session, "ada", "rita", "reviewer")
    add_user(session, "ada", "rob", "reviewer")


def photo(path: Path, seed: int = 0, size: tuple[int, int] = (160, 120)) -> Path:
    """A small real JPEG (the astronaut, shifted by ``seed`` so hashes differ)."""
    from skimage import data

    pixels = np.roll(data.astronaut(), seed * 7, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).resize(size).save(path, quality=90)
    return path


def candidate(
    account_id: int,
    account: str,
    score: float,
    decision: str,
    source: str = "vk",
    evidence: list[Evidence] | None = None,
) -> Candidate:
    """A candidate as the identify service returns it."""
    return Candidate(
        account_id=account_id,
        account=account,
        source=source,
        name=account.title(),
        url=None,
        score=score,
        similarity=score,
        decision=decision,
        fpir=0.0005 if decision == "match" else 0.02,
        meaning=f"a stranger scores this high about 1 time in {int(1 / 0.0005):,}",
        evidence=evidence or [],
    )


def result(photos: list[Path], candidates: list[Candidate]) -> SearchResult:
    """A search result for ``photos`` listing ``candidates``."""
    return SearchResult(
        probes=[
            ProbeFace(
                photo=str(p),
                box=[40.0, 20.0, 100.0, 90.0],
                rotation=0,
                detection_score=1.0,
                quality=0.8,
                faces_in_photo=1,
                tried=[],
            )
            for p in photos
        ],
        candidates=candidates,
        sightings=[],
        gallery_accounts=1000,
        gallery_faces=3000,
        model="dlib-resnet",
        calibration=SearchCalibration(match_threshold=0.8, possible_threshold=0.7),
    )


class FakeIdentify:
    """Stands in for IdentifyService where a test is about cases, not about faces."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates
        self.calls: list[list[Path]] = []

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        """Record the photos searched and return the fixed candidates."""
        self.calls.append(list(photos))
        return result(photos, self.candidates[:top])
