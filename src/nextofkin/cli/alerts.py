"""``nextofkin alerts`` and ``nextofkin case rescan``: standing searches and what they raise.

The ingest command calls :func:`rescan_after_ingest` when its ingest is done: gallery must not
import cases, so the hook lives here, where both are in reach.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table

from nextofkin.cases.alerts import AlertInfo
from nextofkin.cases.standing import RescanReport
from nextofkin.cli.cases import case_app
from nextofkin.cli.common import CliState, cells, console, handle_errors, lit, print_json, state
from nextofkin.errors import NextOfKinError, PermissionDenied

alerts_app = typer.Typer(
    help="Alerts of standing searches: accounts worth a look for open cases.",
    invoke_without_command=True,
)


def print_alerts(alerts: Sequence[AlertInfo]) -> None:
    """A table of alerts for people."""
    if not alerts:
        console.print("no alerts")
        return
    table = Table(show_lines=False)
    for column in ("id", "case", "account", "score", "decision", "why", "state", "raised"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        seen = f"acknowledged by {a.acknowledged_by}" if a.acknowledged_by else a.state.value
        table.add_row(
            *cells(
                a.id,
                a.case_number,
                a.account_ref,
                f"{a.score:.3f}",
                a.decision,
                f"{a.reason.value}: {a.meaning}",
                seen,
                f"{a.raised_at:%Y-%m-%d %H:%M}",
            )
        )
    console.print(table)


@alerts_app.callback()
@handle_errors
def alerts_command(
    ctx: typer.Context,
    all_states: bool = typer.Option(False, "--all", help="Acknowledged alerts too."),
    case: str | None = typer.Option(None, "--case", help="Only alerts of this case."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List open alerts, newest first (``alerts ack ID`` records that you looked)."""
    if ctx.invoked_subcommand is not None:
        return
    from nextofkin.cases.alerts import list_alerts

    cli = state(ctx)
    with cli.workspace.session() as session:
        alerts = list_alerts(
            session, cli.settings.user, state=None if all_states else "open", case_number=case
        )
    if json_out:
        print_json([a.to_dict() for a in alerts])
        return
    print_alerts(alerts)


@alerts_app.command("ack")
@handle_errors
def ack_command(
    ctx: typer.Context,
    alert_id: int = typer.Argument(..., help="Alert id (from `nextofkin alerts`)."),
    note: str | None = typer.Option(None, "--note", help="What you did or saw."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Acknowledge an alert as the acting user (audited; it stays acknowledged)."""
    from nextofkin.cases.alerts import acknowledge

    cli = state(ctx)
    with cli.workspace.session() as session:
        alert = acknowledge(session, cli.settings.user, alert_id, note)
    if json_out:
        print_json(alert.to_dict())
        return
    console.print(
        f"alert {alert.id} (case {lit(alert.case_number)}) acknowledged by "
        f"{lit(alert.acknowledged_by or '')}"
    )


def _print_report(report: RescanReport, mail_note: str | None) -> None:
    if report.note:
        console.print(f"standing searches: {lit(report.note)}")
        return
    console.print(
        f"standing searches: {report.cases} case(s) compared with {report.faces_compared:,} new "
        f"face(s) in {report.seconds:.1f} s: {len(report.alerts)} new alert(s)"
    )
    if report.alerts:
        print_alerts(report.alerts)
    if mail_note:
        console.print(f"[yellow]note:[/] {lit(mail_note)}")


def _rescan_and_mail(
    cli: CliState, actor: str | None, numbers: Sequence[str] | None
) -> tuple[RescanReport, str | None]:
    from nextofkin.cases.standing import rescan
    from nextofkin.notify.team_alerts import mail_team

    report = rescan(cli.workspace, actor, numbers, system=actor is None)
    outcome = mail_team(cli.workspace, report.alerts)
    return report, outcome.note


@handle_errors
def rescan_command(
    ctx: typer.Context,
    numbers: list[str] | None = typer.Argument(None, help="Only these cases (default: all open)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search open cases again against the faces added since their last search or rescan."""
    cli = state(ctx)
    if not cli.settings.user:
        raise PermissionDenied(
            "no acting user: pass --user NAME or set NEXTOFKIN_USER (see `nextofkin user list`)"
        )
    report, note = _rescan_and_mail(cli, cli.settings.user, numbers or None)
    if json_out:
        print_json({**report.to_dict(), "mail_note": note})
        return
    _print_report(report, note)


def rescan_after_ingest(cli: CliState, *, quiet: bool) -> dict[str, object] | None:
    """The ingest command's hook: rescan every open case as the system (``standing.after_ingest``).

    A rescan that cannot run now (another ingest started, no calibration yet, any other error of
    the one tree) is reported, not fatal: the ingest itself succeeded, and the next ingest or
    ``case rescan`` catches up.
    """
    if not cli.settings.standing.after_ingest:
        return None
    try:
        report, note = _rescan_and_mail(cli, None, None)
    except NextOfKinError as exc:  # Busy, CalibrationError, DiskFull, ...: the ingest stands
        if not quiet:
            console.print(f"[yellow]standing searches not run:[/] {lit(str(exc))}")
        return {"error": str(exc)}
    if not quiet:
        _print_report(report, note)
    return {**report.to_dict(), "mail_note": note}


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to ``app`` and ``rescan`` to the ``case`` group."""
    app.add_typer(alerts_app, name="alerts")
    if not any(c.name == "rescan" for c in case_app.registered_commands):
        case_app.command("rescan")(rescan_command)
