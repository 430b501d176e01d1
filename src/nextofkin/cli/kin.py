"""``nextofkin kin`` and ``nextofkin eval kin``: who appears with a person, and whom to tell."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress
from rich.table import Table

from nextofkin.cli.common import cells, console, handle_errors, lit, print_json, state
from nextofkin.cli.eval_group import eval_app
from nextofkin.gallery.accounts import resolve_account
from nextofkin.i18n import _, format_number, lazy_gettext, ngettext
from nextofkin.kin.labels import evidence_label, kin_label
from nextofkin.kin.results import EvidencePhoto, KinResult
from nextofkin.users.service import Permission, require


@handle_errors
def kin_command(
    ctx: typer.Context,
    account: str = typer.Argument(
        ...,
        help=lazy_gettext(
            "The person's account: platform-or-source/account, a unique id, or #<id>."
        ),
    ),
    top: int = typer.Option(
        10, "--top", "-k", min=1, help=lazy_gettext("How many related accounts.")
    ),
    source: str | None = typer.Option(
        None, "--source", help=lazy_gettext("Source holding the account.")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Rank the accounts related to ACCOUNT (relatives first), with reasons and evidence photos."""
    from nextofkin.kin.engine import KinService

    cli = state(ctx)
    with cli.workspace.session() as session:
        # Who asks is checked before the gallery is: a stranger learns nothing of its accounts.
        require(session, cli.settings.user, Permission.VIEW)
        person = resolve_account(session, f"{source}/{account}" if source else account)
    service = KinService(cli.workspace)
    result = service.kin_for(
        cli.settings.user, person.account.external_id, source=person.source, top=top
    )
    if json_out:
        data = result.to_dict()
        # The documented shape first; the rest after it.
        print_json({"account": data.pop("account"), "relations": data.pop("relations")} | data)
        return
    name = result.name or _("no name")
    console.print(
        f"[bold]{lit(result.account)}[/] ("
        + _(
            "%(name)s, source %(source)s",
            name=lit(name),
            source=lit(result.source),
        )
        + "): "
        + ngettext("%(num)d owner face", "%(num)d owner faces", result.owner_faces)
    )
    for note in result.notes:
        console.print("[yellow]" + _("note:") + f"[/] {lit(note)}")
    _print_relations(result)


@handle_errors
def eval_kin_command(
    ctx: typer.Context,
    root: Path = typer.Argument(
        ..., help=lazy_gettext("A sample gallery (with truth.json), already ingested.")
    ),
    source: str | None = typer.Option(
        None, "--source", help=lazy_gettext("Source name (default: ROOT name).")
    ),
    limit: int | None = typer.Option(
        None, "--limit", help=lazy_gettext("Evaluate only this many accounts.")
    ),
    ignore_declared: bool = typer.Option(
        False,
        "--ignore-declared",
        help=lazy_gettext("Ignore declared relatives and tag positions."),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Score the kin engine against a sample gallery's ground truth."""
    from nextofkin.kin.engine import KinService
    from nextofkin.kin.evaluate import evaluate

    service = KinService(state(ctx).workspace, declared=not ignore_declared)
    with Progress(console=console, disable=json_out, transient=True) as bar:
        task = bar.add_task(_("kin engine"), total=limit)
        report = evaluate(service, root, source, limit=limit,
                          progress=lambda n: bar.advance(task, n))  # fmt: skip
    if json_out:
        print_json(report.to_dict())
        return
    data = report.to_dict()
    for key, value in data.items():
        console.print(f"[bold]{key}[/]: {lit(value)}")


def register(app: typer.Typer) -> None:
    """Add ``kin`` to ``app`` and ``kin`` to the ``eval`` group."""
    app.command(
        "kin",
        help=lazy_gettext(
            "Rank the accounts related to ACCOUNT (relatives first), with reasons and evidence "
            "photos."
        ),
    )(kin_command)
    eval_app.command(
        "kin", help=lazy_gettext("Score the kin engine against a sample gallery's ground truth.")
    )(eval_kin_command)


def _print_relations(result: KinResult) -> None:
    """The ranked relatives with their reasons, evidence and contacts."""
    table = Table(show_lines=True)
    for column in (
        "#",
        _("account"),
        _("score"),
        _("relation"),
        _("reasons"),
        _("evidence"),
        _("contacts"),
    ):
        table.add_column(column)
    for rank, rel in enumerate(result.relations, 1):
        relation = kin_label(rel.relation) + (f" ({kin_label(rel.kinship)})" if rel.kinship else "")
        evidence = "\n".join(_evidence_line(e) for e in rel.evidence[:4])
        contacts = "\n".join(f"{k}: {v}" for k, v in rel.contacts.items()) or "-"
        table.add_row(*cells(
            rank, f"{rel.account}\n{rel.name or ''}", format_number(rel.score, 3), relation,
            "\n".join(rel.reasons), evidence, contacts,
        ))  # fmt: skip
    console.print(table)
    for same in result.same_face_accounts:
        console.print(
            "[yellow]"
            + _("same face as the person:")
            + f"[/] {lit(same.account)} ("
            + _("similarity %(value)s", value=format_number(same.similarity, 3))
            + ")"
        )


def _evidence_line(e: EvidencePhoto) -> str:
    """One evidence photo: why it counts (and the tag), and its caption."""
    why = evidence_label(e.why) + (_(", tag %(tag)s", tag=e.tag) if e.tag else "")
    return f"{e.photo} [{why}]" + (f" “{e.caption}”" if e.caption else "")
