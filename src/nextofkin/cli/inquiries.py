"""``nextofkin inquiry``: families' missing-person reports, matched against cases' bodies."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from nextofkin.cases.labels import message_state_label, verdict_label
from nextofkin.cases.review import Verdict
from nextofkin.cli.common import (
    cells,
    console,
    err_console,
    handle_errors,
    lit,
    print_json,
    state,
)
from nextofkin.errors import InputError, NextOfKinError
from nextofkin.i18n import N_, _, format_number, label, lazy_gettext, ngettext
from nextofkin.identify.meaning import decision_label

if TYPE_CHECKING:
    from nextofkin.inquiries.matching import SweepReport
    from nextofkin.inquiries.service import InquiryInfo

# A link's states (inquiries.review), as a person reads them; the JSON keeps the values.
LINK_STATE_NAMES = {
    "proposed": N_("proposed"),
    "confirmed": N_("confirmed"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
}

inquiry_app = typer.Typer(
    help=lazy_gettext(
        "Missing-person reports (inquiries): file, match against cases, review links, purge."
    ),
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
    try:
        sweep = _sweep(ctx, None, [number])
    except NextOfKinError as exc:
        err_console.print(
            _("inquiries not searched (%(why)s): run `nextofkin inquiry match`", why=lit(exc))
        )
        return
    if sweep.new_links and not quiet:
        said = ngettext(
            "%(num)d missing-person inquiry may concern case %(number)s",
            "%(num)d missing-person inquiries may concern case %(number)s",
            len(sweep.new_links),
            number=lit(number),
        )
        console.print(
            f"[bold]{said}[/]: " + _("see `nextofkin case show %(number)s`", number=lit(number))
        )


def _print_sweep(sweep: SweepReport) -> None:
    console.print(
        _(
            "searched %(inquiries)s with a face against %(cases)s: %(links)s for review",
            inquiries=ngettext("%(num)d inquiry", "%(num)d inquiries", sweep.inquiries),
            cases=ngettext("%(num)d case", "%(num)d cases", sweep.cases),
            links=ngettext("%(num)d new link", "%(num)d new links", len(sweep.new_links)),
        )
    )


@inquiry_app.command(
    "file",
    help=lazy_gettext(
        "Record a family's missing-person report (consent required) and search it against cases."
    ),
)
@handle_errors
def file_command(
    ctx: typer.Context,
    photos: list[Path] = typer.Argument(None, help=lazy_gettext("Photos of the missing person.")),
    name: str = typer.Option(..., "--name", help=lazy_gettext("The missing person's name.")),
    born: str | None = typer.Option(
        None, "--born", help=lazy_gettext("Date of birth (YYYY-MM-DD).")
    ),
    last_place: str | None = typer.Option(
        None, "--last-place", help=lazy_gettext("Last known place.")
    ),
    last_date: str | None = typer.Option(
        None, "--last-date", help=lazy_gettext("Last known date.")
    ),
    marks: str | None = typer.Option(None, "--marks", help=lazy_gettext("Distinguishing marks.")),
    inquirer: str = typer.Option(
        ..., "--inquirer", help=lazy_gettext("Name of the person asking.")
    ),
    relation: str = typer.Option(
        ..., "--relation", help=lazy_gettext("Their relation (mother, brother...).")
    ),
    email: str | None = typer.Option(None, "--email", help=lazy_gettext("The inquirer's e-mail.")),
    phone: str | None = typer.Option(None, "--phone", help=lazy_gettext("The inquirer's phone.")),
    consent: bool = typer.Option(
        False,
        "--consent",
        help=lazy_gettext("The inquirer consented to processing their report and photos."),
    ),
    consent_note: str | None = typer.Option(
        None, "--consent-note", help=lazy_gettext("How consent was given (form number, call...).")
    ),
    no_match: bool = typer.Option(
        False, "--no-match", help=lazy_gettext("Do not search the cases now.")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
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
    console.print(_("inquiry %(id)s filed", id=f"[bold]{inquiry_id}[/]"))
    if sweep is not None:
        _print_sweep(sweep)


@inquiry_app.command(
    "photos", help=lazy_gettext("Add photos to an inquiry and search it against the cases again.")
)
@handle_errors
def photos_command(
    ctx: typer.Context,
    inquiry_id: int = typer.Argument(..., help=lazy_gettext("Inquiry id.")),
    photos: list[Path] = typer.Argument(
        ..., help=lazy_gettext("More photos of the missing person.")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
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
    console.print(
        ngettext(
            "inquiry %(id)s: %(num)d new photo", "inquiry %(id)s: %(num)d new photos", added,
            id=inquiry_id,
        )
    )  # fmt: skip
    _print_sweep(sweep)


@inquiry_app.command(
    "match",
    help=lazy_gettext(
        "Search inquiries against cases' post-mortem photos (new photos are analysed first)."
    ),
)
@handle_errors
def match_command(
    ctx: typer.Context,
    case: list[str] = typer.Option(
        None, "--case", help=lazy_gettext("Only pairs with this case (repeat).")
    ),
    inquiry: list[int] = typer.Option(
        None, "--inquiry", help=lazy_gettext("Only pairs with this inquiry.")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Search inquiries against cases' post-mortem photos (new photos are analysed first)."""
    sweep = _sweep(ctx, inquiry or None, case or None)
    if json_out:
        print_json(asdict(sweep))
        return
    _print_sweep(sweep)


@inquiry_app.command(
    "list", help=lazy_gettext("Inquiries you may see (intake: the ones you filed).")
)
@handle_errors
def list_command(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Inquiries you may see (intake: the ones you filed)."""
    from nextofkin.inquiries.service import list_inquiries

    cli = state(ctx)
    with cli.workspace.session() as session:
        rows = list_inquiries(session, cli.settings.user)
    if json_out:
        print_json([asdict(r) for r in rows])
        return
    table = Table(
        _("id"), _("missing"), _("filed by"), _("photos"), _("faces"), _("links"),
        _("confirmed case"),
    )  # fmt: skip
    for r in rows:
        table.add_row(
            *cells(r.id, r.missing_name, r.filed_by, r.photos, r.faces, r.links, r.confirmed_case)
        )
    console.print(table)


def _print_inquiry(info: InquiryInfo) -> None:
    m, q = info.missing, info.inquirer
    title = _("inquiry %(id)s", id=info.id)
    console.print(
        f"[bold]{title}[/]: "
        + _("%(name)s (born %(born)s)", name=lit(m.name), born=lit(m.birth_date or "?"))
    )
    console.print(
        _(
            "last seen: %(place)s, %(date)s",
            place=lit(m.last_seen_place or "?"),
            date=lit(m.last_seen_date or "?"),
        )
    )
    if m.marks:
        console.print(_("marks: %(marks)s", marks=lit(m.marks)))
    contact = ", ".join(c for c in (q.email, q.phone) if c)
    console.print(
        _(
            "asked by: %(name)s (%(relation)s), %(contact)s; consent recorded",
            name=lit(q.name), relation=lit(q.relation), contact=lit(contact),
        )
    )  # fmt: skip
    for p in info.photos:
        _print_inquiry_photo(p.ordinal, p.original_name, p.face_found, p.error)
    for link in info.links:
        console.print(
            "  "
            + _(
                "link %(id)s: case %(number)s [%(state)s] score %(score)s (%(decision)s): "
                "%(meaning)s",
                id=link.id, number=lit(link.case_number),
                state=lit(label(LINK_STATE_NAMES, link.state)),
                score=format_number(link.score, 3), decision=decision_label(link.decision),
                meaning=lit(link.meaning),
            )
        )  # fmt: skip


def _print_inquiry_photo(ordinal: int, name: str, face_found: bool, error: str | None) -> None:
    """One photo of an inquiry, and whether a face was found in it."""
    if face_found:
        found = _("face")
    else:
        found = _("no face (%(why)s)", why=lit(error or _("not analysed yet")))
    console.print("  " + _("photo %(n)s: %(name)s", n=ordinal, name=lit(name)) + f": {found}")


@inquiry_app.command(
    "show", help=lazy_gettext("One inquiry with its photos and its links to cases.")
)
@handle_errors
def show_command(
    ctx: typer.Context,
    inquiry_id: int = typer.Argument(..., help=lazy_gettext("Inquiry id.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
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


@inquiry_app.command(
    "review", help=lazy_gettext("A reviewer's decision on a link between an inquiry and a case.")
)
@handle_errors
def review_command(
    ctx: typer.Context,
    link_id: int = typer.Argument(..., help=lazy_gettext("Link id (see `inquiry show`).")),
    confirm: bool = typer.Option(False, "--confirm", help=lazy_gettext("Confirm the link.")),
    reject: bool = typer.Option(
        False, "--reject", help=lazy_gettext("Reject (or withdraw) the link.")
    ),
    reason: str | None = typer.Option(
        None, "--reason", help=lazy_gettext("Why (kept in the record).")
    ),
    corroborates: int | None = typer.Option(
        None,
        "--corroborates",
        help=lazy_gettext(
            "With --confirm, while the case has a confirmed identification: its id. You state "
            "the inquiry's missing person IS the identified account's person."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """A reviewer's decision on a link between an inquiry and a case."""
    from nextofkin.inquiries.review import review_link

    if confirm == reject:
        raise InputError(_("give exactly one of --confirm or --reject"))
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
        _(
            "link %(link)s (inquiry %(inquiry)s, case %(number)s): %(reviewer)s %(verdict)s; "
            "%(confirmations)s; link %(state)s",
            link=out.link_id, inquiry=out.inquiry_id, number=lit(out.case_number),
            reviewer=lit(out.reviewer), verdict=verdict_label(out.verdict),
            confirmations=ngettext(
                "%(got)s of %(num)d confirmation", "%(got)s of %(num)d confirmations",
                out.needed, got=len(out.confirmations),
            ),
            state=lit(label(LINK_STATE_NAMES, out.state)),
        )
    )  # fmt: skip


@inquiry_app.command(
    "letter",
    help=lazy_gettext(
        "Draft the letter to the family whose inquiry is confirmed for the case (send it with "
        "`nextofkin notify send NUMBER`)."
    ),
)
@handle_errors
def letter_command(
    ctx: typer.Context,
    number: str = typer.Argument(
        ..., help=lazy_gettext("Case number with a confirmed inquiry link.")
    ),
    channel: str | None = typer.Option(
        None, "--channel", help=lazy_gettext("email (default) or manual.")
    ),
    language: str | None = typer.Option(
        None, "--language", help=lazy_gettext("Template language.")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
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
        _(
            "letter to %(name)s (%(recipient)s) for case %(number)s: %(state)s; check it, then "
            "`nextofkin notify send %(number)s`",
            name=lit(info.recipient_name or info.recipient),
            recipient=lit(info.recipient),
            number=lit(number),
            state=message_state_label(info.state),
        )
    )


@inquiry_app.command(
    "purge",
    help=lazy_gettext("Remove an inquiry and every copy of its data (the family withdrew)."),
)
@handle_errors
def purge_command(
    ctx: typer.Context,
    inquiry_id: int = typer.Argument(..., help=lazy_gettext("Inquiry id.")),
    yes: bool = typer.Option(False, "--yes", help=lazy_gettext("Do not ask for confirmation.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Remove an inquiry and every copy of its data (the family withdrew)."""
    from nextofkin.inquiries.purge import purge_inquiry

    if not yes and not typer.confirm(
        _("Permanently remove inquiry %(id)s and its photos?", id=inquiry_id)
    ):
        raise typer.Exit(1)
    cli = state(ctx)
    report = purge_inquiry(cli.workspace, cli.settings.user, inquiry_id)
    if json_out:
        print_json(asdict(report))
        return
    counts = (
        ngettext("%(num)d photo", "%(num)d photos", report.photos),
        ngettext("%(num)d face", "%(num)d faces", report.faces),
        ngettext("%(num)d link", "%(num)d links", report.links),
        ngettext("%(num)d letter redacted", "%(num)d letters redacted", report.letters_redacted),
        ngettext("%(num)d file deleted", "%(num)d files deleted", report.files_deleted),
    )
    console.print(
        _("purged inquiry %(id)s: %(counts)s", id=report.inquiry_id, counts=", ".join(counts))
    )


def register(app: typer.Typer) -> None:
    """Add the ``inquiry`` group to ``app``."""
    app.add_typer(inquiry_app, name="inquiry")
