"""``nextofkin inquiry``: families' missing-person reports, matched against cases' bodies."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from nextofkin.cli.common import (
    cells,
    console,
    err_console,
    handle_errors,
    lit,
    print_json,
    state,
)
from nextofkin.errors import InputError

if TYPE_CHECKING:
    from nextofkin.inquiries.matching import SweepReport
    from nextofkin.inquiries.service import InquiryInfo

inquiry_app = typer.Typer(
    help="Missing-person reports (inquiries): file, match against cases, review links, purge.",
    no_args_is_help=True,
)


def _sweep(
    ctx: typer.Context, inquiry_ids: list[int] | None, cases: list[str] | None
) -> SweepReport:
    from nextofkin.inquiries.matching import match

    cli = state(ctx)
    return match(cli.workspace, cli.settings.user, inquiry_ids=inquiry_ids, case_numbers=cases)


def sweep_case(ctx: typer.Context, number: str, *, quiet: bool = False) -> None:
    """Search waiting inquiries against case ``number`` (it was opened or gained photos).

    The case's own command succeeded whatever happens here: a failure is told, not raised, and
    ``nextofkin inquiry match`` redoes it.
    """
    from nextofkin.errors import NextOfKinError

    try:
        sweep = _sweep(ctx, None, [number])
    except NextOfKinError as exc:
        err_console.print(f"inquiries not searched ({lit(exc)}): run `nextofkin inquiry match`")
        return
    if sweep.new_links and not quiet:
        console.print(
            f"[bold]{len(sweep.new_links)} missing-person inquiry(ies) may concern case "
            f"{lit(number)}[/]: see `nextofkin case show {lit(number)}`"
        )


def _print_sweep(sweep: SweepReport) -> None:
    console.print(
        f"searched {sweep.inquiries} inquiry(ies) with a face against {sweep.cases} case(s): "
        f"{len(sweep.new_links)} new link(s) for review"
    )


@inquiry_app.command("file")
@handle_errors
def file_command(
    ctx: typer.Context,
    photos: list[Path] = typer.Argument(None, help="Photos of the missing person."),
    name: str = typer.Option(..., "--name", help="The missing person's name."),
    born: str | None = typer.Option(None, "--born", help="Date of birth (YYYY-MM-DD)."),
    last_place: str | None = typer.Option(None, "--last-place", help="Last known place."),
    last_date: str | None = typer.Option(None, "--last-date", help="Last known date."),
    marks: str | None = typer.Option(None, "--marks", help="Distinguishing marks."),
    inquirer: str = typer.Option(..., "--inquirer", help="Name of the person asking."),
    relation: str = typer.Option(..., "--relation", help="Their relation (mother, brother...)."),
    email: str | None = typer.Option(None, "--email", help="The inquirer's e-mail."),
    phone: str | None = typer.Option(None, "--phone", help="The inquirer's phone."),
    consent: bool = typer.Option(
        False, "--consent", help="The inquirer consented to processing their report and photos."
    ),
    consent_note: str | None = typer.Option(
        None, "--consent-note", help="How consent was given (form number, call...)."
    ),
    no_match: bool = typer.Option(False, "--no-match", help="Do not search the cases now."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Record a family's missing-person report (consent required) and search it against cases."""
    from nextofkin.inquiries.service import Inquirer, MissingPerson, file_inquiry

    cli = state(ctx)
    with cli.workspace.session() as session:
        inquiry_id = file_inquiry(
            session,
            cli.workspace,
            cli.settings.user,
            MissingPerson(name, born, last_place, last_date, marks),
            Inquirer(inquirer, relation, email, phone, consent, consent_note),
            photos or [],
        )
    sweep = None if no_match or not photos else _sweep(ctx, [inquiry_id], None)
    if json_out:
        print_json({"inquiry": inquiry_id, "sweep": asdict(sweep) if sweep else None})
        return
    console.print(f"inquiry [bold]{inquiry_id}[/] filed")
    if sweep is not None:
        _print_sweep(sweep)


@inquiry_app.command("photos")
@handle_errors
def photos_command(
    ctx: typer.Context,
    inquiry_id: int = typer.Argument(..., help="Inquiry id."),
    photos: list[Path] = typer.Argument(..., help="More photos of the missing person."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Add photos to an inquiry and search it against the cases again."""
    from nextofkin.inquiries.service import add_photos

    cli = state(ctx)
    with cli.workspace.session() as session:
        added = add_photos(session, cli.workspace, cli.settings.user, inquiry_id, photos)
    sweep = _sweep(ctx, [inquiry_id], None)
    if json_out:
        print_json({"inquiry": inquiry_id, "added": added, "sweep": asdict(sweep)})
        return
    console.print(f"inquiry {inquiry_id}: {added} new photo(s)")
    _print_sweep(sweep)


@inquiry_app.command("match")
@handle_errors
def match_command(
    ctx: typer.Context,
    case: list[str] = typer.Option(None, "--case", help="Only pairs with this case (repeat)."),
    inquiry: list[int] = typer.Option(None, "--inquiry", help="Only pairs with this inquiry."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search inquiries against cases' post-mortem photos (new photos are analysed first)."""
    sweep = _sweep(ctx, inquiry or None, case or None)
    if json_out:
        print_json(asdict(sweep))
        return
    _print_sweep(sweep)


@inquiry_app.command("list")
@handle_errors
def list_command(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Inquiries you may see (intake: the ones you filed)."""
    from nextofkin.inquiries.service import list_inquiries

    cli = state(ctx)
    with cli.workspace.session() as session:
        rows = list_inquiries(session, cli.settings.user)
    if json_out:
        print_json([asdict(r) for r in rows])
        return
    table = Table("id", "missing", "filed by", "photos", "faces", "links", "confirmed case")
    for r in rows:
        table.add_row(
            *cells(r.id, r.missing_name, r.filed_by, r.photos, r.faces, r.links, r.confirmed_case)
        )
    console.print(table)


def _print_inquiry(info: InquiryInfo) -> None:
    m, q = info.missing, info.inquirer
    console.print(f"[bold]inquiry {info.id}[/]: {lit(m.name)} (born {lit(m.birth_date or '?')})")
    console.print(f"last seen: {lit(m.last_seen_place or '?')}, {lit(m.last_seen_date or '?')}")
    if m.marks:
        console.print(f"marks: {lit(m.marks)}")
    contact = ", ".join(c for c in (q.email, q.phone) if c)
    console.print(f"asked by: {lit(q.name)} ({lit(q.relation)}), {lit(contact)}; consent recorded")
    for p in info.photos:
        found = "face" if p.face_found else f"no face ({lit(p.error or 'not analysed yet')})"
        console.print(f"  photo {p.ordinal}: {lit(p.original_name)}: {found}")
    for link in info.links:
        console.print(
            f"  link {link.id}: case {lit(link.case_number)} [{link.state}] score "
            f"{link.score:.3f} ({link.decision}): {lit(link.meaning)}"
        )


@inquiry_app.command("show")
@handle_errors
def show_command(
    ctx: typer.Context,
    inquiry_id: int = typer.Argument(..., help="Inquiry id."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One inquiry with its photos and its links to cases."""
    from nextofkin.inquiries.service import view_inquiry

    cli = state(ctx)
    with cli.workspace.session() as session:
        info = view_inquiry(session, cli.settings.user, inquiry_id)
    if json_out:
        print_json(info.to_dict())
        return
    _print_inquiry(info)


@inquiry_app.command("review")
@handle_errors
def review_command(
    ctx: typer.Context,
    link_id: int = typer.Argument(..., help="Link id (see `inquiry show`)."),
    confirm: bool = typer.Option(False, "--confirm", help="Confirm the link."),
    reject: bool = typer.Option(False, "--reject", help="Reject (or withdraw) the link."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the record)."),
    corroborates: int | None = typer.Option(
        None,
        "--corroborates",
        help="With --confirm, while the case has a confirmed identification: its id. You state "
        "the inquiry's missing person IS the identified account's person.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A reviewer's decision on a link between an inquiry and a case."""
    from nextofkin.cases.review import Verdict
    from nextofkin.inquiries.review import review_link

    if confirm == reject:
        raise InputError("give exactly one of --confirm or --reject")
    cli = state(ctx)
    verdict = Verdict.CONFIRM if confirm else Verdict.REJECT
    with cli.workspace.session() as session:
        out = review_link(
            session,
            cli.settings.review,
            cli.settings.user,
            link_id,
            verdict,
            reason=reason,
            corroborates=corroborates,
        )
    if json_out:
        print_json(asdict(out))
        return
    console.print(
        f"link {out.link_id} (inquiry {out.inquiry_id}, case {lit(out.case_number)}): "
        f"{lit(out.reviewer)} {out.verdict.value}ed; {len(out.confirmations)} of {out.needed} "
        f"confirmation(s); link {out.state}"
    )


@inquiry_app.command("letter")
@handle_errors
def letter_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="Case number with a confirmed inquiry link."),
    channel: str | None = typer.Option(None, "--channel", help="email (default) or manual."),
    language: str | None = typer.Option(None, "--language", help="Template language."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Draft the letter to the family whose inquiry is confirmed for the case (send it with
    `nextofkin notify send NUMBER`)."""
    from nextofkin.notify.inquirers import draft_for_inquirer

    cli = state(ctx)
    with cli.workspace.session() as session:
        info = draft_for_inquirer(
            session, cli.workspace, cli.settings.user, number, channel=channel, language=language
        )
    if json_out:
        print_json(asdict(info))
        return
    console.print(
        f"letter to {lit(info.recipient_name or info.recipient)} ({lit(info.recipient)}) for "
        f"case {lit(number)}: {info.state.value}; check it, then `nextofkin notify send {number}`"
    )


@inquiry_app.command("purge")
@handle_errors
def purge_command(
    ctx: typer.Context,
    inquiry_id: int = typer.Argument(..., help="Inquiry id."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove an inquiry and every copy of its data (the family withdrew)."""
    from nextofkin.inquiries.purge import purge_inquiry

    if not yes and not typer.confirm(f"Permanently remove inquiry {inquiry_id} and its photos?"):
        raise typer.Exit(1)
    cli = state(ctx)
    report = purge_inquiry(cli.workspace, cli.settings.user, inquiry_id)
    if json_out:
        print_json(asdict(report))
        return
    console.print(
        f"purged inquiry {report.inquiry_id}: {report.photos} photo(s), {report.faces} face(s), "
        f"{report.links} link(s), {report.letters_redacted} letter(s) redacted, "
        f"{report.files_deleted} file(s) deleted"
    )


def register(app: typer.Typer) -> None:
    """Add the ``inquiry`` group to ``app``."""
    app.add_typer(inquiry_app, name="inquiry")
