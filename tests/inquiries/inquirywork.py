"""Helpers of the inquiry tests (imported as ``inquiries.inquirywork``).

:class:`VectorAnalyser` stands in for the face pipeline where a test is about records, review and
purge rather than about faces: each photo's face vector is looked up by the photo's content, so
tests choose who looks like whom. The real pipeline is exercised by the LFW test and the benchmark.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cases.casework import photo
from nextofkin.identify.calibration import Calibration, calibrate
from nextofkin.identify.service import ProbeAnalysis
from nextofkin.inquiries.service import Inquirer, MissingPerson
from nextofkin.settings import DecisionPolicy
from nextofkin.vision.types import Box, Face, PhotoFaces, Quality

DIM = 128


def unit(seed: int) -> np.ndarray:
    """A random unit vector (one 'person')."""
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, seed: int, noise: float = 0.25) -> np.ndarray:
    """Another photo of the person ``v``: cosine about 0.95."""
    w = v + noise * unit(10_000 + seed) / np.sqrt(1 + noise)
    return (w / np.linalg.norm(w)).astype(np.float32)


class VectorAnalyser:
    """Faces by photo content: ``faces[sha256 of the file] = vector`` (no entry: no face)."""

    def __init__(self) -> None:
        self.faces: dict[str, np.ndarray] = {}
        self.calls = 0

    def person_photo(self, path: Path, seed: int, vector: np.ndarray | None) -> Path:
        """Write a distinct JPEG at ``path`` whose face is ``vector`` (None: no face)."""
        photo(path, seed=seed, size=(160, 120))
        if vector is not None:
            self.faces[hashlib.sha256(path.read_bytes()).hexdigest()] = vector
        return path

    def analyse(self, photos: Sequence[Path]) -> list[ProbeAnalysis]:
        """See :class:`nextofkin.identify.service.ProbeAnalyser`."""
        out = []
        for p in photos:
            self.calls += 1
            vector = self.faces.get(hashlib.sha256(Path(p).read_bytes()).hexdigest())
            if vector is None:
                out.append(ProbeAnalysis(str(p), None, "NoFaceFound", f"{Path(p).name}: no face"))
                continue
            face = Face(
                box=Box(40, 20, 100, 90),
                landmarks=np.zeros((5, 2), np.float32),
                detection_score=1.0,
                quality=Quality(1.0, 1.0, 1.0, 0.9, 40.0),
                embedding=vector,
            )
            out.append(ProbeAnalysis(str(p), PhotoFaces(160, 120, [face])))
        return out


def calibration(accounts: int = 1000) -> Calibration:
    """A measured cosine calibration: 2,000 strangers' top-1 similarities around 0.45."""
    rng = np.random.default_rng(7)
    scores = np.clip(rng.normal(0.45, 0.06, 2000), -1, 1)
    return calibrate(scores, accounts, DecisionPolicy(), method="test impostors")


def missing(name: str = "Taras Bondar") -> MissingPerson:
    """A missing person as a family describes him."""
    return MissingPerson(name, "1994-03-02", "Izium", "2024-05-01", "scar on the left hand")


def inquirer(consent: bool = True, email: str | None = "mother@example.org") -> Inquirer:
    """The person asking, with consent recorded."""
    return Inquirer("Halyna Bondar", "mother", email, "+380501112233", consent, "signed form")
