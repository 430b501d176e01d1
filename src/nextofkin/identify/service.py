"""The identify service used by the CLI and the API: a workspace in, a search result out.

A search has two halves. *Probe analysis* (decode each photo, find and embed its face) costs what
the photo makes it cost, so it is isolated per photo: every failure is that photo's clear error,
naming it, and the server runs this half in a bounded worker pool with a time and memory budget
(:mod:`nextofkin.identify.probe_pool`). The *gallery search* (fuse, index, scores) costs what the
gallery makes it cost and runs where the index is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nextofkin.errors import (
    ImageError,
    ImageNotAnalysable,
    ImageTooLarge,
    ImageTooSmall,
    InputError,
    NoFaceFound,
    OverBudget,
    UnreadableImage,
    UnsupportedFormat,
)
from nextofkin.gallery.embedder import resolve_embedder, workspace_vision
from nextofkin.gallery.maintenance import open_index
from nextofkin.i18n import gettext
from nextofkin.identify.cohort import cohort_store
from nextofkin.identify.search import ProbeFace, Searcher, SearchResult, fuse, pick_probe_face
from nextofkin.vision.image_io import load_image
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry
from nextofkin.vision.types import Face, PhotoFaces
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

# The errors a probe photo's analysis may end with, by name: results cross a process boundary as
# plain data, and only these are turned back into exceptions.
_PROBE_ERRORS: dict[str, type[InputError]] = {
    cls.__name__: cls
    for cls in (
        NoFaceFound,
        UnreadableImage,
        UnsupportedFormat,
        ImageTooLarge,
        ImageTooSmall,
        ImageNotAnalysable,
        OverBudget,
    )
}


@dataclass(frozen=True)
class ProbeAnalysis:
    """One probe photo analysed: its faces, or the error that says why it has none."""

    photo: str
    found: PhotoFaces | None = None
    error_type: str | None = None
    message: str = ""
    tried: list[str] = field(default_factory=list)

    def error(self) -> InputError:
        """The photo's error as an exception of the one tree (never a bare RuntimeError)."""
        cls = _PROBE_ERRORS.get(self.error_type or "", ImageNotAnalysable)
        if cls is NoFaceFound:
            return NoFaceFound(self.message, tried=self.tried)
        return cls(self.message)


def _named(photo: Path, message: str) -> str:
    return message if message.startswith(photo.name) else f"{photo.name}: {message}"


def analyse_probe_photo(
    pipeline: FacePipeline, photo: Path, *, max_pixels: int, max_bytes: int
) -> ProbeAnalysis:
    """Decode ``photo`` and find its faces; any failure is returned as this photo's error."""
    try:
        image = load_image(photo, max_pixels=max_pixels, max_bytes=max_bytes)
        found = pipeline.analyse_probe(image.pixels)
    except NoFaceFound as exc:
        return ProbeAnalysis(str(photo), None, "NoFaceFound", _named(photo, str(exc)), exc.tried)
    except ImageError as exc:
        message = _named(photo, str(exc).replace(str(photo), photo.name))
        return ProbeAnalysis(str(photo), None, type(exc).__name__, message)
    except MemoryError:
        message = _named(photo, "the search of this photo needed more memory than it may use")
        return ProbeAnalysis(str(photo), None, "OverBudget", message)
    return ProbeAnalysis(str(photo), found)


def analyse_probes(
    pipeline: FacePipeline, photos: Sequence[Path], *, max_pixels: int, max_bytes: int
) -> list[ProbeAnalysis]:
    """:func:`analyse_probe_photo` for each photo, in order."""
    return [
        analyse_probe_photo(pipeline, Path(p), max_pixels=max_pixels, max_bytes=max_bytes)
        for p in photos
    ]


def probe_faces(analyses: Sequence[ProbeAnalysis]) -> tuple[list[ProbeFace], list[Face]]:
    """The face used from each photo that has one.

    Photos without a usable face are left out of the fused probe (and logged) when another photo
    has one. When none has, the error names every photo: :class:`NoFaceFound` if no face was the
    only trouble, else the first other error's class (a 1x1 image is "too small", not "no face").
    """
    probes: list[ProbeFace] = []
    faces: list[Face] = []
    failures: list[ProbeAnalysis] = []
    for analysis in analyses:
        found = analysis.found
        if found is None or not found.faces:
            failures.append(analysis)
            continue
        face = pick_probe_face(found.faces, found.width, found.height)
        faces.append(face)
        probes.append(
            ProbeFace(
                photo=analysis.photo,
                box=face.box.as_list(),
                rotation=face.rotation,
                detection_score=round(face.detection_score, 4),
                quality=face.quality.overall,
                faces_in_photo=len(found.faces),
                tried=found.tried,
            )
        )
    if not faces:
        message = " | ".join(a.message for a in failures) or gettext("no probe photo given")
        other = next((a for a in failures if a.error_type != "NoFaceFound"), None)
        if other is None:
            tried = [f"{Path(a.photo).name}: {t}" for a in failures for t in a.tried]
            raise NoFaceFound(message, tried=tried)
        raise ProbeAnalysis(other.photo, None, other.error_type, message).error()
    for failure in failures:
        log.warning("probe photo left out of the fused probe: %s", failure.message)
    return probes, faces


class ProbeAnalyser(Protocol):
    """Turns probe photos into faces: in this process, or in a budgeted worker pool."""

    def analyse(self, photos: Sequence[Path]) -> list[ProbeAnalysis]:
        """One analysis per photo, in order."""
        ...


class LocalAnalyser:
    """Probe analysis in the calling process (the CLI: one user, one search at a time)."""

    def __init__(self, pipeline: FacePipeline, *, max_pixels: int, max_bytes: int) -> None:
        self.pipeline = pipeline
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes

    def analyse(self, photos: Sequence[Path]) -> list[ProbeAnalysis]:
        """See :class:`ProbeAnalyser`."""
        return analyse_probes(
            self.pipeline, photos, max_pixels=self.max_pixels, max_bytes=self.max_bytes
        )


class IdentifyService:
    """Holds the loaded models and index of one workspace, so repeated searches stay warm.

    ``analyser`` replaces in-process probe analysis (the server passes its worker pool); the
    models of the in-process pipeline load on first use, so a server never loads them here.
    """

    def __init__(self, workspace: Workspace, analyser: ProbeAnalyser | None = None) -> None:
        self.workspace = workspace
        registry = default_registry(workspace.settings.vision)
        # Probes must be embedded by the model the gallery's faces were made with.
        self.vision = workspace_vision(workspace, resolve_embedder(workspace, registry))
        self.pipeline = FacePipeline.from_settings(self.vision, registry)
        limits = workspace.settings.vision
        self.analyser: ProbeAnalyser = analyser or LocalAnalyser(
            self.pipeline, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes
        )
        self.index = open_index(workspace)

    def identify(self, photos: list[Path], top: int = 10) -> SearchResult:
        """Search the gallery for the person in ``photos`` (several photos of one body)."""
        return self.search(self.analyser.analyse(photos), top)

    def search(self, analyses: Sequence[ProbeAnalysis], top: int = 10) -> SearchResult:
        """The gallery half of a search, from probe analyses made anywhere."""
        probes, faces = probe_faces(analyses)
        vector = fuse([f.embedding for f in faces], [f.quality.overall for f in faces])
        with self.workspace.session() as session:
            searcher = Searcher(session, self.index, cohorts=cohort_store(self.workspace))
            return searcher.search_vector(vector, probes, top)
