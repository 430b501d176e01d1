"""``nextofkin case``: open, list, show, close cases and render their reports."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from nextofkin.cases.labels import state_label, verdict_label
from nextofkin.cases.service import (
    CaseInfo,
    CustodyCheck,
    SearchInfo,
    add_photos,
    close_case,
    list_cases,
    open_case,
    verify_custody,
    view_case,
)
from nextofkin.cli.common import cells, console, handle_errors, lit, print_json, state
from nextofkin.cli.inquiries import sweep_case
from nextofkin.i18n import (
    LANGUAGES,
    _,
    current_language,
    format_datetime,
    format_number,
    lazy_gettext,
    ngettext,
    normalise_language,
    use_language,
)
from nextofkin.identify.meaning import decision_label, stored_meaning

case_app = typer.Typer(
    help=lazy_gettext("Cases: post-mortem photos, searches, decisions."), no_args_is_help=True
)


@case_app.command(
    "open",
    help=lazy_gettext("Open a case; its photos are copied into the workspace with their SHA-256."),
)
@handle_errors
def open_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("The team's case number.")),
    photos: list[Path] = typer.Option(
        ..., "--photo", help=lazy_gettext("A post-mortem photo (repeatable).")
    ),
    found_at: str | None = typer.Option(
        None, "--found-at", help=lazy_gettext("When found (ISO date).")
    ),
    place: str | None = typer.Option(None, "--place", help=lazy_gettext("Where found.")),
    notes: str | None = typer.Option(None, "--notes", help=lazy_gettext("Free notes.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Open a case; its photos are copied into the workspace with their SHA-256."""
    cli = state(ctx)
    ws = cli.workspace
    with ws.session() as session:
        info = open_case(
            session,
            ws,
            cli.settings.user,
            number,
            photos,
            found_at=found_at,
            place=place,
            notes=notes,
        )
    sweep_case(ctx, info.number, quiet=json_out)
    if json_out:
        print_json(info.to_dict())
        return
    console.print(
        ngettext(
            "opened case %(number)s with %(num)d photo",
            "opened case %(number)s with %(num)d photos",
            len(info.photos),
            number=f"[bold]{lit(info.number)}[/]",
        )
    )
    for photo in info.photos:
        console.print(
            "  " + _("%(name)s  sha256 %(hash)s", name=lit(photo.original_name), hash=photo.sha256)
        )


@case_app.command(
    "add-photo",
    help=lazy_gettext("Add more photos of the same body to a case that is still being searched."),
)
@handle_errors
def add_photo_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    photos: list[Path] = typer.Option(
        ..., "--photo", help=lazy_gettext("A post-mortem photo (repeatable).")
    ),
) -> None:
    """Add more photos of the same body to a case that is still being searched."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        added = add_photos(session, cli.workspace, cli.settings.user, number, photos)
    console.print(
        ngettext(
            "added %(num)d photo to case %(number)s",
            "added %(num)d photos to case %(number)s",
            len(added),
            number=lit(number),
        )
    )
    sweep_case(ctx, number)


@case_app.command("list", help=lazy_gettext("List cases, newest first."))
@handle_errors
def list_command(
    ctx: typer.Context,
    state_filter: str | None = typer.Option(
        None, "--state", help=lazy_gettext("Only cases in this state.")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """List cases, newest first."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        rows = list_cases(session, cli.settings.user, state_filter)
    if json_out:
        print_json([asdict(r) for r in rows])
        return
    table = Table()
    for column in (
        _("case"),
        _("state"),
        _("found"),
        _("place"),
        _("photos"),
        _("searches"),
        _("identified"),
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            *cells(
                r.number,
                state_label(r.state),
                r.found_at or "-",
                r.place or "-",
                r.photos,
                r.searches,
                r.identified_ref or "-",
            )
        )
    console.print(table)


@case_app.command(
    "show",
    help=lazy_gettext(
        "Show a case: photos (with custody check), searches, candidates and decisions."
    ),
)
@handle_errors
def show_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Show a case: photos (with custody check), searches, candidates and decisions."""
    cli = state(ctx)
    ws = cli.workspace
    with ws.session() as session:
        info = view_case(session, cli.settings.user, number)
        custody = verify_custody(session, ws, number)
    if json_out:
        data = info.to_dict()
        data["custody"] = [{"stored_path": c.stored_path, "ok": c.ok} for c in custody]
        # The human-readable meaning in the command's language, like the table (issue 18).
        for search, shown in zip(info.searches, data["searches"], strict=True):
            samples = search.calibration.samples if search.calibration else None
            for c, row in zip(search.candidates, shown["candidates"], strict=True):
                row["meaning"] = stored_meaning(c.fpir, search.gallery_size, samples, c.meaning)
        print_json(data)
        return
    _print_case(info, custody)
    for search in info.searches:
        _print_search(search)
    if info.decisions:
        console.print("\n" + _("decisions:"))
        for d in info.decisions:
            console.print(
                f"  {format_datetime(d.at)} {d.reviewer} {verdict_label(d.decision)} "
                f"{d.account_ref}" + (f" — {d.reason}" if d.reason else ""),
                markup=False,
            )


def _print_case(info: CaseInfo, custody: list[CustodyCheck]) -> None:
    """The case's facts and photos, each with its custody check."""
    console.print(
        "[bold]"
        + _("case %(number)s", number=lit(info.number))
        + "[/]  "
        + _("state: %(state)s", state=f"[bold]{lit(state_label(info.state))}[/]")
    )
    console.print(
        _(
            "found: %(found)s  place: %(place)s  opened by %(user)s at %(when)s UTC",
            found=lit(info.found_at or "-"),
            place=lit(info.place or "-"),
            user=lit(info.opened_by),
            when=format_datetime(info.opened_at),
        )
    )
    if info.notes:
        console.print(_("notes: %(notes)s", notes=lit(info.notes)))
    if info.identified_ref:
        shown = _("identified as %(account)s", account=lit(info.identified_ref))
        console.print(f"[bold green]{shown}[/]")
    for photo, check in zip(info.photos, custody, strict=True):
        mark = "[green]" + _("hash ok") if check.ok else "[bold red]" + _("HASH MISMATCH")
        mark += "[/]"
        name = lit(photo.original_name)
        console.print(
            _("photo %(n)s: %(name)s", n=photo.ordinal, name=name)
            + f" ({photo.sha256[:16]}…) {mark}"
        )


def _print_search(search: SearchInfo) -> None:
    """One search and its candidates, each meaning written in the current language."""
    gallery = search.gallery_size or 0
    console.print(
        "\n"
        + _(
            "search %(id)s by %(user)s at %(when)s UTC (%(model)s, %(gallery)s)",
            id=search.id,
            user=lit(search.run_by),
            when=format_datetime(search.run_at),
            model=lit(search.model),
            gallery=ngettext(
                "gallery of %(count)s account",
                "gallery of %(count)s accounts",
                gallery,
                count=format_number(gallery),
            ),
        )
    )
    table = Table(show_lines=False)
    for column in (
        "#",
        _("account"),
        _("name"),
        _("score"),
        _("decision"),
        _("what the score means"),
    ):
        table.add_column(column, overflow="fold")
    samples = search.calibration.samples if search.calibration else None
    for rank, c in enumerate(search.candidates, start=1):
        table.add_row(
            *cells(
                rank,
                c.ref,
                c.name or "-",
                format_number(c.score, 3),
                decision_label(c.decision),
                stored_meaning(c.fpir, search.gallery_size, samples, c.meaning),
            )
        )
    console.print(table)


@case_app.command("close", help=lazy_gettext("Close a case, or set it aside as unidentified."))
@handle_errors
def close_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    unidentified: bool = typer.Option(
        False,
        "--unidentified",
        help=lazy_gettext("Set aside without identification (can be searched again)."),
    ),
    reason: str | None = typer.Option(None, "--reason", help=lazy_gettext("Why.")),
) -> None:
    """Close a case, or set it aside as unidentified."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        info = close_case(
            session, cli.settings.user, number, reason=reason, unidentified=unidentified
        )
    console.print(
        _("case %(number)s is now %(state)s", number=lit(number), state=state_label(info.state))
    )


@case_app.command(
    "report",
    help=lazy_gettext(
        "Write the case report: photos, candidates side by side, decisions, messages, audit trail."
    ),
)
@handle_errors
def report_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    fmt: str = typer.Option("html", "--format", help=lazy_gettext("html or pdf.")),
    out: Path | None = typer.Option(
        None, "--out", help=lazy_gettext("Where to write (default: workspace).")
    ),
    language: str | None = typer.Option(
        None,
        "--language",
        help=lazy_gettext(
            "The report's language (uk, en, ru): it is often for someone else. "
            "Default: the command's (--language before the command, NEXTOFKIN_LANGUAGE)."
        ),
    ),
) -> None:
    """Write the case report: photos, candidates side by side, decisions, messages, audit trail."""
    from nextofkin.reports import write_report

    cli = state(ctx)
    if language is not None and normalise_language(language) is None:
        raise typer.BadParameter(
            _(
                "unknown language %(language)s (one of: %(known)s)",
                language=language,
                known=", ".join(LANGUAGES),
            ),
            param_hint="--language",
        )
    with use_language(language or current_language()):
        path = write_report(cli.workspace, cli.settings.user, number, fmt, out)  # type: ignore[arg-type]
    console.print(_("report written to %(path)s", path=lit(path)))


def register(app: typer.Typer) -> None:
    """Add ``case`` to ``app``."""
    app.add_typer(case_app, name="case")
