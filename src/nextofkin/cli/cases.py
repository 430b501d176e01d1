"""``nextofkin case``: open, list, show, close cases and render their reports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nextofkin.cli.common import cells, console, handle_errors, lit, print_json, state
from nextofkin.cli.inquiries import sweep_case

case_app = typer.Typer(help="Cases: post-mortem photos, searches, decisions.", no_args_is_help=True)


@case_app.command("open")
@handle_errors
def open_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="The team's case number."),
    photos: list[Path] = typer.Option(..., "--photo", help="A post-mortem photo (repeatable)."),
    found_at: str | None = typer.Option(None, "--found-at", help="When found (ISO date)."),
    place: str | None = typer.Option(None, "--place", help="Where found."),
    notes: str | None = typer.Option(None, "--notes", help="Free notes."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Open a case; its photos are copied into the workspace with their SHA-256."""
    from nextofkin.cases.service import open_case

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
    console.print(f"opened case [bold]{lit(info.number)}[/] with {len(info.photos)} photo(s)")
    for photo in info.photos:
        console.print(f"  {lit(photo.original_name)}  sha256 {photo.sha256}")


@case_app.command("add-photo")
@handle_errors
def add_photo_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="Case number."),
    photos: list[Path] = typer.Option(..., "--photo", help="A post-mortem photo (repeatable)."),
) -> None:
    """Add more photos of the same body to a case that is still being searched."""
    from nextofkin.cases.service import add_photos

    cli = state(ctx)
    with cli.workspace.session() as session:
        added = add_photos(session, cli.workspace, cli.settings.user, number, photos)
    console.print(f"added {len(added)} photo(s) to case {lit(number)}")
    sweep_case(ctx, number)


@case_app.command("list")
@handle_errors
def list_command(
    ctx: typer.Context,
    state_filter: str | None = typer.Option(None, "--state", help="Only cases in this state."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List cases, newest first."""
    from dataclasses import asdict

    from nextofkin.cases.service import list_cases

    cli = state(ctx)
    with cli.workspace.session() as session:
        rows = list_cases(session, cli.settings.user, state_filter)
    if json_out:
        print_json([asdict(r) for r in rows])
        return
    table = Table()
    for column in ("case", "state", "found", "place", "photos", "searches", "identified"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            *cells(
                r.number,
                r.state.value,
                r.found_at or "-",
                r.place or "-",
                r.photos,
                r.searches,
                r.identified_ref or "-",
            )
        )
    console.print(table)


@case_app.command("show")
@handle_errors
def show_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="Case number."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a case: photos (with custody check), searches, candidates and decisions."""
    from nextofkin.cases.service import verify_custody, view_case

    cli = state(ctx)
    ws = cli.workspace
    with ws.session() as session:
        info = view_case(session, cli.settings.user, number)
        custody = verify_custody(session, ws, number)
    if json_out:
        data = info.to_dict()
        data["custody"] = [{"stored_path": c.stored_path, "ok": c.ok} for c in custody]
        print_json(data)
        return
    console.print(f"[bold]case {lit(info.number)}[/]  state: [bold]{info.state.value}[/]")
    console.print(
        f"found: {lit(info.found_at or '-')}  place: {lit(info.place or '-')}  opened by "
        f"{lit(info.opened_by)} at {info.opened_at:%Y-%m-%d %H:%M} UTC"
    )
    if info.notes:
        console.print(f"notes: {lit(info.notes)}")
    if info.identified_ref:
        console.print(f"[bold green]identified as {lit(info.identified_ref)}[/]")
    for photo, check in zip(info.photos, custody, strict=True):
        mark = "[green]hash ok[/]" if check.ok else "[bold red]HASH MISMATCH[/]"
        name = lit(photo.original_name)
        console.print(f"photo {photo.ordinal}: {name} ({photo.sha256[:16]}…) {mark}")
    for search in info.searches:
        console.print(
            f"\nsearch {search.id} by {lit(search.run_by)} at {search.run_at:%Y-%m-%d %H:%M} UTC "
            f"({lit(search.model)}, gallery of {search.gallery_size or '?'} accounts)"
        )
        table = Table(show_lines=False)
        for column in ("#", "account", "name", "score", "decision", "what the score means"):
            table.add_column(column, overflow="fold")
        for rank, c in enumerate(search.candidates, start=1):
            table.add_row(
                *cells(
                    rank,
                    c.ref,
                    c.name or "-",
                    f"{c.score:.3f}",
                    c.decision,
                    c.meaning,
                )
            )
        console.print(table)
    if info.decisions:
        console.print("\ndecisions:")
        for d in info.decisions:
            console.print(
                f"  {d.at:%Y-%m-%d %H:%M} {d.reviewer} {d.decision} {d.account_ref}"
                + (f" — {d.reason}" if d.reason else ""),
                markup=False,
            )


@case_app.command("close")
@handle_errors
def close_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="Case number."),
    unidentified: bool = typer.Option(
        False, "--unidentified", help="Set aside without identification (can be searched again)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why."),
) -> None:
    """Close a case, or set it aside as unidentified."""
    from nextofkin.cases.service import close_case

    cli = state(ctx)
    with cli.workspace.session() as session:
        info = close_case(
            session, cli.settings.user, number, reason=reason, unidentified=unidentified
        )
    console.print(f"case {lit(number)} is now {info.state.value}")


@case_app.command("report")
@handle_errors
def report_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="Case number."),
    fmt: str = typer.Option("html", "--format", help="html or pdf."),
    out: Path | None = typer.Option(None, "--out", help="Where to write (default: workspace)."),
) -> None:
    """Write the case report: photos, candidates side by side, decisions, messages, audit trail."""
    from nextofkin.cases.report import write_report

    cli = state(ctx)
    path = write_report(cli.workspace, cli.settings.user, number, fmt, out)  # type: ignore[arg-type]
    console.print(f"report written to {lit(path)}")


def register(app: typer.Typer) -> None:
    """Add ``case`` to ``app``."""
    app.add_typer(case_app, name="case")
