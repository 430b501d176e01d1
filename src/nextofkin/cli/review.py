"""``nextofkin review``: a reviewer confirms or rejects a candidate."""

from __future__ import annotations

from dataclasses import asdict

import typer

from nextofkin.cases.labels import state_label, verdict_label
from nextofkin.cases.review import ReviewOutcome, Verdict, review
from nextofkin.cli.common import console, handle_errors, lit, print_json, state
from nextofkin.errors import InputError
from nextofkin.i18n import _, format_number, lazy_gettext, ngettext
from nextofkin.identify.meaning import decision_label


@handle_errors
def review_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    confirm: str | None = typer.Option(
        None,
        "--confirm",
        help=lazy_gettext("Candidate account to confirm (source/account or account)."),
    ),
    reject: str | None = typer.Option(
        None, "--reject", help=lazy_gettext("Candidate account to reject.")
    ),
    reviewer: str | None = typer.Option(
        None, "--reviewer", help=lazy_gettext("The reviewer deciding (default: --user).")
    ),
    reason: str | None = typer.Option(
        None, "--reason", help=lazy_gettext("Why (kept in the record).")
    ),
    corroborates: int | None = typer.Option(
        None,
        "--corroborates",
        help=lazy_gettext(
            "With --confirm, while the case has a confirmed inquiry link: that link's id. You "
            "state the inquiry's missing person IS this account's person."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Record a reviewer's decision on one candidate of a case's searches."""
    if (confirm is None) == (reject is None):
        raise InputError(_("give exactly one of --confirm ACCOUNT or --reject ACCOUNT"))
    verdict, account = (
        (Verdict.CONFIRM, confirm) if confirm is not None else (Verdict.REJECT, reject)
    )
    assert account is not None
    cli = state(ctx)
    with cli.workspace.session() as session:
        outcome = review(
            session,
            cli.settings.review,
            cli.settings.user,
            number,
            account,
            verdict,
            reviewer=reviewer,
            reason=reason,
            corroborates=corroborates,
        )
    if json_out:
        print_json(asdict(outcome))
        return
    _print_outcome(number, outcome)


def _print_outcome(number: str, outcome: ReviewOutcome) -> None:
    """Say what the decision did to the case, in the reader's language."""
    console.print(
        _(
            "case %(number)s: %(reviewer)s: %(verdict)s %(account)s "
            "(score %(score)s, %(decision)s)",
            number=f"[bold]{lit(number)}[/]",
            reviewer=lit(outcome.reviewer),
            verdict=verdict_label(outcome.verdict),
            account=lit(outcome.account_ref),
            score=format_number(outcome.score, 3),
            decision=decision_label(outcome.candidate_decision),
        )
    )
    if outcome.verdict.value == "confirm":
        if outcome.identified:
            console.print(
                "[bold green]"
                + _("identified")
                + "[/]: "
                + _("confirmed by %(who)s", who=lit(", ".join(outcome.confirmations)))
            )
        else:
            console.print(
                "[yellow]"
                + _("awaiting a second reviewer")
                + "[/]: "
                + ngettext(
                    "%(got)s of %(num)d confirmation",
                    "%(got)s of %(num)d confirmations",
                    outcome.needed,
                    got=len(outcome.confirmations),
                )
            )
    console.print(_("case state: %(state)s", state=state_label(outcome.state)))


def register(app: typer.Typer) -> None:
    """Add ``review`` to ``app``."""
    app.command(
        "review",
        help=lazy_gettext("Record a reviewer's decision on one candidate of a case's searches."),
    )(review_command)
