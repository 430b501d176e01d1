"""``nextofkin review``: a reviewer confirms or rejects a candidate."""

from __future__ import annotations

import typer

from nextofkin.cli.common import console, handle_errors, lit, print_json, state
from nextofkin.errors import InputError


@handle_errors
def review_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="Case number."),
    confirm: str | None = typer.Option(
        None, "--confirm", help="Candidate account to confirm (source/account or account)."
    ),
    reject: str | None = typer.Option(None, "--reject", help="Candidate account to reject."),
    reviewer: str | None = typer.Option(
        None, "--reviewer", help="The reviewer deciding (default: --user)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the record)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Record a reviewer's decision on one candidate of a case's searches."""
    from dataclasses import asdict

    from nextofkin.cases.review import Verdict, review

    if (confirm is None) == (reject is None):
        raise InputError("give exactly one of --confirm ACCOUNT or --reject ACCOUNT")
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
        )
    if json_out:
        print_json(asdict(outcome))
        return
    console.print(
        f"case [bold]{lit(number)}[/]: {lit(outcome.reviewer)} {outcome.verdict.value}ed "
        f"{lit(outcome.account_ref)} (score {outcome.score:.3f}, {outcome.candidate_decision})"
    )
    if outcome.verdict.value == "confirm":
        if outcome.identified:
            console.print(
                f"[bold green]identified[/]: confirmed by {lit(', '.join(outcome.confirmations))}"
            )
        else:
            console.print(
                f"[yellow]awaiting a second reviewer[/]: {len(outcome.confirmations)} of "
                f"{outcome.needed} confirmations"
            )
    console.print(f"case state: {outcome.state.value}")


def register(app: typer.Typer) -> None:
    """Add ``review`` to ``app``."""
    app.command("review")(review_command)
