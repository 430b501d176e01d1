"""Core commands: ingest, identify, status, models."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from nextofkin import audit
from nextofkin.cases.info import case_photos
from nextofkin.cases.service import identify_for_case
from nextofkin.cli.alerts import rescan_after_ingest
from nextofkin.cli.common import (
    cells,
    console,
    handle_errors,
    lit,
    print_json,
    record_action,
    state,
)
from nextofkin.cli.inquiries import sweep_case
from nextofkin.errors import ConfigError, InputError
from nextofkin.gallery.embedder import resolve_embedder
from nextofkin.gallery.ingest import IngestReport, gallery_counts
from nextofkin.gallery.labels import face_role_label
from nextofkin.gallery.maintenance import open_index
from nextofkin.i18n import N_, _, format_number, label, lazy_gettext, ngettext
from nextofkin.identify.calibration import Calibration
from nextofkin.identify.derived import derive_after, ingest, shard_cohort
from nextofkin.identify.meaning import decision_label
from nextofkin.identify.results import Candidate, SearchResult
from nextofkin.users.service import Permission, require
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace


@handle_errors
def ingest_command(
    ctx: typer.Context,
    root: Path = typer.Argument(
        ..., help=lazy_gettext("Gallery export root (see docs/FORMATS.md).")
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-j", help=lazy_gettext("Worker processes.")
    ),
    source: str | None = typer.Option(
        None, "--source", help=lazy_gettext("Source name (default: ROOT name).")
    ),
    layout: str = typer.Option(
        "auto",
        "--format",
        help=lazy_gettext(
            "Export layout: auto (detected), folders, manifest, telegram, gallery-dl, "
            "instaloader or vk-api."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print the report as JSON.")),
    engine: str = typer.Option(
        "local",
        "--engine",
        help=lazy_gettext(
            "local (worker processes on this machine) or ray (a Ray cluster; docs/SCALING.md)."
        ),
    ),
    address: str | None = typer.Option(
        None, "--address", help=lazy_gettext("Ray cluster address (host:port) for --engine ray.")
    ),
) -> None:
    """Ingest a gallery export: accounts, photos, faces and the vector index.

    Safe to rerun: a second run adds nothing, and a run killed at any moment is finished by the
    next one with nothing lost or duplicated.
    """
    if engine not in ("local", "ray"):
        raise ConfigError(_("unknown engine '%(engine)s': use local or ray", engine=engine))
    cli = state(ctx)
    # Audited before it starts, so a run that dies still shows in the log.
    subject = f"source:{source or root.resolve().name}"
    record_action(
        cli, audit.Action.INGEST_START, subject, {"root": str(root.resolve()), "workers": workers}
    )
    run = IngestRun(root, source, workers, layout, engine, address)
    report = _run_ingest(cli.workspace, run, quiet=json_out)
    summary = {k: v for k, v in asdict(report).items() if k != "failures"}
    record_action(
        cli, audit.Action.INGEST_DONE, f"source:{report.source}",
        {**summary, "failures": len(report.failures)},
    )  # fmt: skip
    if json_out:
        print_json({**asdict(report), "standing": rescan_after_ingest(cli, quiet=True)})
        return
    _print_ingest(report)
    # Open cases are searched again against what this ingest added (cases/standing.py).
    rescan_after_ingest(cli, quiet=False)


@dataclass(frozen=True)
class IngestRun:
    """What ``ingest`` was asked to read, and where to run the analysis."""

    root: Path
    source: str | None
    workers: int | None
    layout: str
    engine: str
    address: str | None


def _run_ingest(ws: Workspace, run: IngestRun, *, quiet: bool) -> IngestReport:
    """Ingest with a progress bar, on this machine's processes or on a Ray cluster."""
    from nextofkin.gallery.cluster.engine import cluster_ingest

    with Progress(
        TextColumn("[bold]" + _("ingest") + "[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(_("photos")),
        TimeRemainingColumn(),
        console=console if not quiet else None,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=None)  # its columns say what runs

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if run.engine == "ray":
            return derive_after(ws, lambda: cluster_ingest(
                ws, run.root, address=run.address, source_name=run.source, workers=run.workers,
                progress=update, layout=run.layout, cohort=shard_cohort(ws),
            ))  # fmt: skip
        return ingest(
            ws, run.root, source_name=run.source, workers=run.workers, progress=update,
            layout=run.layout,
        )  # fmt: skip


def _print_ingest(report: IngestReport) -> None:
    """What the ingest added, and each item it could not read with why."""
    r, n = report, format_number
    counts = ", ".join(
        (
            ngettext("%(count)s new account", "%(count)s new accounts", r.accounts_added,
                     count=n(r.accounts_added)),
            ngettext("%(count)s new photo", "%(count)s new photos", r.photos_added,
                     count=n(r.photos_added)),
            ngettext("%(count)s image processed", "%(count)s images processed",
                     r.images_processed, count=n(r.images_processed)),
            ngettext("%(count)s duplicate linked", "%(count)s duplicates linked",
                     r.duplicates_linked, count=n(r.duplicates_linked)),
            ngettext("%(count)s face", "%(count)s faces", r.faces_added, count=n(r.faces_added)),
        )
    )  # fmt: skip
    console.print(
        _(
            "source %(source)s (%(layout)s): %(counts)s; index holds %(total)s (%(seconds)s s)",
            source=f"[bold]{lit(r.source)}[/]",
            layout=r.layout,
            counts=counts,
            total=ngettext(
                "%(count)s face", "%(count)s faces", r.index_total, count=n(r.index_total)
            ),
            seconds=n(r.seconds, 1),
        )
    )
    if r.failures:
        _print_failures(r)


def _print_failures(report: IngestReport) -> None:
    """Each item the ingest could not read, and why (the first 200; --json has all)."""
    failed = len(report.failures)
    table = Table(
        title=ngettext("%(num)d item not ingested", "%(num)d items not ingested", failed),
        show_lines=False,
    )
    table.add_column(_("item"), overflow="fold")
    table.add_column(_("why"), overflow="fold")
    for failure in report.failures[:200]:
        table.add_row(*cells(failure.item, failure.message))
    console.print(table)
    if failed > 200:
        console.print(_("... and %(more)s more (use --json for all)", more=failed - 200))


def _margin_text(margin: float | None, rank: int) -> str:
    """How clearly a candidate stands out from the other accounts (empty when unknown)."""
    if margin is None:
        return ""
    if rank == 1:
        return "; " + _("%(margin)s above the next account", margin=format_number(margin, 2))
    return "; " + _("%(margin)s below the first", margin=format_number(-margin, 2))


def _print_search_facts(result: SearchResult, names: dict[str, str] | None) -> None:
    """The probes, the gallery and its thresholds, the score kind and the calibration's notes."""
    for probe in result.probes:
        stored = Path(probe.photo).name
        console.print(
            _(
                "probe %(photo)s: face at %(box)s (rotated %(deg)s°, quality %(q)s, %(faces)s)",
                photo=f"[bold]{lit((names or {}).get(stored, stored))}[/]",
                box=probe.box,
                deg=probe.rotation,
                q=format_number(probe.quality, 2),
                faces=ngettext(
                    "%(num)d face in photo", "%(num)d faces in photo", probe.faces_in_photo
                ),
            )
        )
    calibration, accounts, faces = result.calibration, result.gallery_accounts, result.gallery_faces
    console.print(
        _(
            "gallery: %(accounts)s, %(faces)s; thresholds: match ≥ %(match)s (FPIR "
            "%(match_fpir)s), possible ≥ %(possible)s (FPIR %(possible_fpir)s)",
            accounts=ngettext(
                "%(count)s account", "%(count)s accounts", accounts, count=format_number(accounts)
            ),
            faces=ngettext("%(count)s face", "%(count)s faces", faces, count=format_number(faces)),
            match=format_number(calibration.match_threshold, 3),
            match_fpir=f"{calibration.match_fpir:g}",
            possible=format_number(calibration.possible_threshold, 3),
            possible_fpir=f"{calibration.possible_fpir:g}",
        )
    )
    if result.score_kind != "cosine":
        console.print(
            _(
                "scores: %(kind)s: cosine similarity standardised against a cohort of gallery "
                "faces (0: as close as its 100 nearest other faces on average; higher is rarer); "
                "cosine similarity in brackets",
                kind=result.score_kind,
            )
        )
    for note in calibration.notes or ():
        console.print("[yellow]" + _("note:") + f"[/] {lit(note)}")


DECISION_STYLES = {"match": "bold green", "possible": "yellow", "no match": "dim"}


def _candidate_row(rank: int, cand: Candidate, score_kind: str) -> list[Text]:
    """One candidate as a table row: account, score, decision, what it means, evidence."""
    evidence = "\n".join(
        f"{e.photo} ({face_role_label(e.role)}, {format_number(e.similarity, 3)})"
        for e in cand.evidence[:3]
    )
    account = cand.account + (f"\n{cand.name}" if cand.name else "")
    score = format_number(cand.score, 3)
    if score_kind != "cosine" and cand.similarity is not None:
        score += f"\n({format_number(cand.similarity, 3)})"
    return [
        *cells(rank, account, score),
        Text(decision_label(cand.decision), style=DECISION_STYLES.get(cand.decision, "")),
        *cells(cand.meaning + _margin_text(cand.margin, rank), evidence),
    ]


def render_result(result: SearchResult, names: dict[str, str] | None = None) -> None:
    """Print a search result for a person; ``names`` maps stored copies to the user's names."""
    _print_search_facts(result, names)
    table = Table(show_lines=True)
    for column in (
        "#",
        _("account"),
        _("score"),
        _("decision"),
        _("what the score means"),
        _("evidence"),
    ):
        table.add_column(column, overflow="fold")
    for rank, cand in enumerate(result.candidates, start=1):
        table.add_row(*_candidate_row(rank, cand, result.score_kind))
    console.print(table)
    if result.sightings:
        console.print(
            _("also appears as a companion in photos of:")
            + " "
            + ", ".join(
                f"{s.account} ({format_number(s.similarity, 3)})" for s in result.sightings[:10]
            ),
            markup=False,
        )


@handle_errors
def identify_command(
    ctx: typer.Context,
    photos: list[Path] | None = typer.Argument(
        None,
        help=lazy_gettext("Post-mortem photos of ONE body (optional with --case: its own photos)."),
    ),
    top: int = typer.Option(
        10, "--top", "-k", min=1, max=500, help=lazy_gettext("Candidates to list.")
    ),
    case: str | None = typer.Option(
        None,
        "--case",
        help=lazy_gettext("Case number (opened if new). Without it a new case is opened."),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Search the gallery for the person in the photos: ranked candidate accounts.

    Every search belongs to a case and to the acting user (--user / NEXTOFKIN_USER): the photos
    are copied into the case with their SHA-256, and the search is stored and audited.
    """
    cli = state(ctx)
    if not photos and case is None:
        raise InputError(_("give at least one photo, or --case NUMBER to search a case's photos"))
    outcome = identify_for_case(cli.workspace, cli.settings.user, case, photos or [], top=top)
    sweep_case(ctx, outcome.case_number, quiet=json_out)
    if json_out:
        extra = {"case": outcome.case_number, "case_opened": outcome.opened}
        print_json({**outcome.result.to_dict(), **extra})
        return
    number = f"[bold]{lit(outcome.case_number)}[/]"
    if outcome.opened:
        console.print(_("case %(number)s (opened); search stored and audited", number=number))
    else:
        console.print(_("case %(number)s (updated); search stored and audited", number=number))
    render_result(outcome.result, photo_names(cli.workspace, outcome.case_number))


def photo_names(workspace: Workspace, number: str) -> dict[str, str]:
    """The case's stored probe copies (``001-<hash>.jpg``) by the names the user gave them."""
    with workspace.session() as session:
        photos = case_photos(session, number)
    return {Path(p.stored_path).name: p.original_name for p in photos}


@handle_errors
def status_command(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """What the workspace holds."""
    cli = state(ctx)
    ws = cli.workspace
    with ws.session() as session:
        require(session, cli.settings.user, Permission.VIEW)
        counts = gallery_counts(session)
    embedder = resolve_embedder(ws)
    index = open_index(ws)
    info = {
        "workspace": str(ws.home),
        **counts,
        # recorded in the workspace, inferred from an index saved before records, or settings
        "embedder": embedder.name,
        "embedder_source": embedder.source,
        "index_faces": len(index),
        "index_model": index.description.model,
        "index_factory": index.description.factory,
        **asdict(_calibration_state(index.description.calibration)),
    }
    if json_out:
        print_json(info)
        return
    _print_status(info)


# What `status` calls each of its fields for a person (the JSON keeps the keys).
STATUS_LABELS: dict[str, str] = {
    "workspace": N_("workspace"),
    "sources": N_("sources"),
    "accounts": N_("accounts"),
    "images": N_("images"),
    "faces": N_("faces"),
    "photos_pending": N_("photos pending"),
    "photos_done": N_("photos done"),
    "photos_failed": N_("photos failed"),
    "embedder": N_("embedder"),
    "embedder_source": N_("embedder from"),
    "index_faces": N_("index faces"),
    "index_model": N_("index model"),
    "index_factory": N_("index factory"),
    "calibrated": N_("calibrated"),
    "calibration": N_("calibration"),
}
YES_NO = {"True": N_("True"), "False": N_("False")}


def _print_status(info: dict[str, object]) -> None:
    """One field a line, its name in the reader's language, the names aligned."""
    names = {key: label(STATUS_LABELS, key) for key in info}
    width = max(len(name) for name in names.values())
    for key, value in info.items():
        shown = label(YES_NO, value) if isinstance(value, bool) else value
        console.print(f"{names[key]:>{width}}: {shown}", markup=False)


@dataclass(frozen=True)
class CalibrationState:
    """Whether thresholds were measured on this gallery, in the words identify uses (``status``
    shows both fields; its JSON keeps these names)."""

    calibrated: bool
    calibration: str


def _calibration_state(stored: dict[str, Any] | None) -> CalibrationState:
    """The state of the calibration the index stores (``stored``: its JSON form)."""
    if stored is None:
        return CalibrationState(False, _("none yet: run `nextofkin calibrate`"))
    calibration = Calibration.from_dict(stored)
    if calibration.method.endswith("(fallback)"):
        # The same fallback identify reports in every result: saying "calibrated" here too
        # would tell a new user the scores mean more than they do.
        return CalibrationState(False, "; ".join(calibration.notes))
    measured = _(
        "measured on %(samples)s impostor scores of %(accounts)s accounts",
        samples=calibration.samples,
        accounts=calibration.accounts,
    )
    return CalibrationState(True, measured)


def models_command(
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """List the registered face models."""
    names = default_registry().names()
    if json_out:
        print_json(names)
        return
    for kind, items in names.items():
        console.print(f"{label(MODEL_KINDS, kind)}: {', '.join(items)}", markup=False)


MODEL_KINDS = {
    "detectors": N_("detectors"),
    "landmarks": N_("landmarks"),
    "embedders": N_("embedders"),
}


def register(app: typer.Typer) -> None:
    """Add the core commands to ``app``."""
    app.command(
        "ingest",
        help=lazy_gettext("Ingest a gallery export: accounts, photos, faces and the vector index."),
    )(ingest_command)
    app.command(
        "identify",
        help=lazy_gettext(
            "Search the gallery for the person in the photos: ranked candidate accounts."
        ),
    )(identify_command)
    app.command("status", help=lazy_gettext("What the workspace holds."))(status_command)
    app.command("models", help=lazy_gettext("List the registered face models."))(models_command)
