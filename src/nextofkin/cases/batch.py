"""Many bodies at once: open and search a batch of cases from a folder or a CSV, in one process.

A team arriving with hundreds of bodies runs one command, which loads the face models once and
reuses one identify service for every case. The run is resumable: a case already opened with the
same photos is not opened again, a case already searched is skipped (unless ``research``), and the
case number is unique in the database, so a killed run is finished by the next one without
duplicates. One bad case (missing photo, no face, unreadable image, a number already used for other
photos) is reported by its number and never stops the others. Each case is opened and searched
through :mod:`nextofkin.cases.service`, so it is audited exactly as a single case would be.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from nextofkin.cases.records import Case
from nextofkin.cases.service import (
    AFTER_SEARCH,
    CaseState,
    case_info,
    identify_for_case,
    open_case,
)
from nextofkin.errors import DiskFull, InputError, NextOfKinError
from nextofkin.i18n import _
from nextofkin.identify import service as identify_service
from nextofkin.identify.interfaces import Identifier
from nextofkin.users.service import Permission, require

if TYPE_CHECKING:
    from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

# The image files a case folder's photos are taken from (anything else in it is ignored).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".heic", ".heif"}
)
CASE_FILE = "case.json"
# The CSV header: these names, in any order; ``notes`` may be left out.
CSV_COLUMNS = ("case_number", "photos", "found_at", "place")
CSV_OPTIONAL = ("notes",)


ServiceFactory = Callable[["Workspace"], Identifier]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BatchCase:
    """One case as the source describes it; ``problem`` says why it cannot be used as given."""

    number: str
    photos: tuple[Path, ...]
    found_at: str | None = None
    place: str | None = None
    notes: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class CaseOutcome:
    """What the run did with one case."""

    number: str
    state: str | None  # the case's state afterwards; None when it was never opened
    opened: bool = False
    searched: bool = False
    skipped: str | None = None  # why nothing was done (already searched, closed)
    top_candidate: str | None = None  # ``source/account`` of the newest search's first candidate
    score: float | None = None
    decision: str | None = None
    error: str | None = None
    error_kind: str | None = None

    @property
    def failed(self) -> bool:
        """True when the case could not be opened or searched."""
        return self.error is not None


@dataclass
class ImportReport:
    """The outcome of one batch run."""

    source: str
    layout: str  # "folder" or "csv"
    outcomes: list[CaseOutcome] = field(default_factory=list)

    @property
    def opened(self) -> int:
        """Cases this run opened."""
        return sum(o.opened for o in self.outcomes)

    @property
    def searched(self) -> int:
        """Cases this run searched."""
        return sum(o.searched for o in self.outcomes)

    @property
    def skipped(self) -> int:
        """Cases left as they were (already searched, or past searching)."""
        return sum(o.skipped is not None for o in self.outcomes)

    @property
    def failed(self) -> int:
        """Cases reported with an error."""
        return sum(o.failed for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "source": self.source,
            "layout": self.layout,
            "cases": len(self.outcomes),
            "opened": self.opened,
            "searched": self.searched,
            "skipped": self.skipped,
            "failed": self.failed,
            "outcomes": [
                {
                    "number": o.number,
                    "state": o.state,
                    "opened": o.opened,
                    "searched": o.searched,
                    "skipped": o.skipped,
                    "top_candidate": o.top_candidate,
                    "score": o.score,
                    "decision": o.decision,
                    "error": o.error,
                    "error_kind": o.error_kind,
                }
                for o in self.outcomes
            ],
        }


def read_source(source: Path) -> tuple[str, list[BatchCase]]:
    """The layout (``folder`` or ``csv``) and the cases of ``source``, in the source's order.

    A problem with one case (no photos, a broken ``case.json``, a number given twice) is kept on
    that case; only a source that cannot be read at all is an :class:`InputError`.
    """
    if source.is_dir():
        cases = read_folder(source)
        layout = "folder"
    elif source.is_file() and source.suffix.lower() == ".csv":
        cases = read_csv(source)
        layout = "csv"
    elif source.exists():
        raise InputError(
            _("%(source)s is neither a folder of case folders nor a .csv file", source=source)
        )
    else:
        raise InputError(_("%(source)s does not exist", source=source))
    return layout, _flag_repeated_numbers(cases)


def read_folder(root: Path) -> list[BatchCase]:
    """One case per sub-folder: its name is the case number, its images the photos of ONE body."""
    cases: list[BatchCase] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = tuple(
            sorted(
                p
                for p in folder.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
        )
        problem = None if photos else _("no image in %(folder)s", folder=folder)
        meta: dict[str, Any] = {}
        meta_file = folder / CASE_FILE
        if meta_file.is_file():
            try:
                loaded = json.loads(meta_file.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                meta = loaded
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                problem = _("%(file)s cannot be read: %(error)s", file=meta_file, error=exc)
        cases.append(
            BatchCase(
                number=folder.name,
                photos=photos,
                found_at=_text(meta.get("found_at")),
                place=_text(meta.get("place")),
                notes=_text(meta.get("notes")),
                problem=problem,
            )
        )
    return cases


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header (lower-case) and the rows after it, refused when unreadable or misnamed."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(_("%(path)s cannot be read as CSV: %(exc)s", path=path, exc=exc)) from exc
    if not rows:
        raise InputError(
            _(
                "%(path)s is empty: it needs the header %(csv_columns)s",
                path=path,
                csv_columns=",".join(CSV_COLUMNS),
            )
        )
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in CSV_COLUMNS if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS + CSV_OPTIONAL]
    if missing or unknown:
        raise InputError(
            _(
                "%(path)s: the header must name %(csv_columns)s (and optionally "
                "notes); missing %(missing)s, unknown %(unknown)s",
                path=path,
                csv_columns=",".join(CSV_COLUMNS),
                missing=missing or _("nothing"),
                unknown=unknown or _("nothing"),
            )
        )
    return header, rows[1:]


def read_csv(path: Path) -> list[BatchCase]:
    """One case per row of ``case_number,photos,found_at,place[,notes]`` (header row required).

    ``photos`` holds ``;``-separated paths, relative to the CSV's folder (or absolute).
    """
    header, rows = _csv_rows(path)
    cases: list[BatchCase] = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = dict(zip(header, (cell.strip() for cell in row), strict=False))
        number = values.get("case_number", "")
        photos = tuple(
            _relative_to(path.parent, p.strip())
            for p in values.get("photos", "").split(";")
            if p.strip()
        )
        problem = None
        if len(row) != len(header):
            problem = _(
                "line %(line)s: %(columns)s columns, the header has %(header)s",
                line=line,
                columns=len(row),
                header=len(header),
            )
        elif not number:
            problem = _("line %(line)s: no case number", line=line)
        elif not photos:
            problem = _("line %(line)s: no photos", line=line)
        cases.append(
            BatchCase(
                number=number or f"(line {line})",
                photos=photos,
                found_at=values.get("found_at") or None,
                place=values.get("place") or None,
                notes=values.get("notes") or None,
                problem=problem,
            )
        )
    return cases


def _relative_to(base: Path, text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else base / path


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _flag_repeated_numbers(cases: list[BatchCase]) -> list[BatchCase]:
    """A number given twice in one source is the second one's problem: which body is it?"""
    seen: set[str] = set()
    flagged: list[BatchCase] = []
    for case in cases:
        if case.number in seen and case.problem is None:
            case = BatchCase(
                case.number,
                case.photos,
                case.found_at,
                case.place,
                case.notes,
                problem=_(
                    "case number %(number)s appears more than once in the source",
                    number=case.number,
                ),
            )
        seen.add(case.number)
        flagged.append(case)
    return flagged


def _default_factory(workspace: Workspace) -> Identifier:
    # Through the module, not a name bound at import: a stand-in put there (tests) is used.
    return identify_service.IdentifyService(workspace)


def import_cases(
    workspace: Workspace,
    actor: str | None,
    source: Path,
    *,
    research: bool = False,
    top: int = 10,
    service_factory: ServiceFactory | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Open and search every case of ``source`` (a folder or a CSV, see :func:`read_source`).

    ``service_factory`` makes the identify service (default: :class:`IdentifyService`); it is
    called at most once per run, and only when some case needs a search, so the models load once.
    ``progress(done, total, number)`` is called after each case. The acting user needs the
    ``open_case`` and ``search`` permissions; without them nothing is done.
    """
    with workspace.session() as session:
        require(session, actor, Permission.OPEN_CASE)
        require(session, actor, Permission.SEARCH)
    layout, cases = read_source(source)
    report = ImportReport(source=str(source), layout=layout)
    factory = service_factory or _default_factory
    service: Identifier | None = None

    def get_service() -> Identifier:
        nonlocal service
        if service is None:
            service = factory(workspace)
        return service

    for done, case in enumerate(cases, start=1):
        try:
            outcome = _process(workspace, actor, case, research, top, get_service)
        except DiskFull:
            raise  # every later case would fail the same way: stop and say so once
        except NextOfKinError as exc:
            outcome = _failure(workspace, case.number, exc)
        except OSError as exc:  # a photo vanished or became unreadable mid-run
            outcome = _failure(workspace, case.number, exc)
        except IntegrityError:
            # Another run opened the same number between our check and our insert: the unique
            # number kept it to one case; this run reports it and goes on.
            error = InputError(
                _("case %(number)s was opened by another run at the same time", number=case.number)
            )
            outcome = _failure(workspace, case.number, error)
        if outcome.failed:
            log.warning("case %s: %s", case.number, outcome.error)
        report.outcomes.append(outcome)
        if progress is not None:
            progress(done, len(cases), case.number)
    return report


def _process(
    workspace: Workspace,
    actor: str | None,
    case: BatchCase,
    research: bool,
    top: int,
    get_service: Callable[[], Identifier],
) -> CaseOutcome:
    if case.problem is not None:
        raise InputError(case.problem)
    opened = False
    with workspace.session() as session:
        existing = session.scalars(select(Case).where(Case.number == case.number)).one_or_none()
        if existing is None:
            open_case(
                session,
                workspace,
                actor,
                case.number,
                list(case.photos),
                found_at=case.found_at,
                place=case.place,
                notes=case.notes,
            )
            opened = True
        else:
            stored = {p.sha256 for p in existing.photos}
            for photo in case.photos:
                if not photo.is_file():
                    raise InputError(_("probe photo %(photo)s does not exist", photo=photo))
                if hashlib.sha256(photo.read_bytes()).hexdigest() not in stored:
                    raise InputError(
                        _(
                            "case %(number)s already exists with other photos (%(name)s is not "
                            "among them)",
                            number=case.number,
                            name=photo.name,
                        )
                    )
        info = case_info(session, case.number)
    if info.searches and not research:
        return _current(workspace, case.number, opened=opened, skipped="already searched")
    if info.state not in AFTER_SEARCH:
        return _current(
            workspace, case.number, opened=opened, skipped=f"{info.state.value}: not searched"
        )
    try:
        identify_for_case(workspace, actor, case.number, [], top=top, service=get_service())
    except NextOfKinError as exc:
        if not opened:
            raise
        # Opened in this run, not searched: report both, so the rerun's "search only" is expected.
        return replace(_failure(workspace, case.number, exc), opened=True)
    return _current(workspace, case.number, opened=opened, searched=True)


def _current(
    workspace: Workspace,
    number: str,
    *,
    opened: bool = False,
    searched: bool = False,
    skipped: str | None = None,
) -> CaseOutcome:
    """The case as it now stands, with its newest search's first candidate."""
    with workspace.session() as session:
        info = case_info(session, number)
    first = (
        info.searches[-1].candidates[0] if info.searches and info.searches[-1].candidates else None
    )
    return CaseOutcome(
        number=number,
        state=info.state.value,
        opened=opened,
        searched=searched,
        skipped=skipped,
        top_candidate=first.ref if first else None,
        score=first.score if first else None,
        decision=first.decision if first else None,
    )


def _failure(workspace: Workspace, number: str, exc: Exception) -> CaseOutcome:
    state: str | None = None
    with workspace.session() as session:
        found = session.scalars(select(Case.state).where(Case.number == number)).one_or_none()
        if found is not None:
            state = CaseState(found).value
    return CaseOutcome(
        number=number,
        state=state,
        error=str(exc) or type(exc).__name__,
        error_kind=type(exc).__name__,
    )
