"""``nextofkin alerts`` and ``nextofkin case rescan``: standing searches and what they raise.

The ingest command calls :func:`rescan_after_ingest` when its ingest is done: gallery must not
import cases, so the hook lives here, where both are in reach.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table

from nextofkin.cases.alerts import AlertInfo, AlertReason, acknowledge, list_alerts
from nextofkin.cases.standing import RescanReport, rescan
from nextofkin.cli.cases import case_app
from nextofkin.cli.common import CliState, cells, console, handle_errors, lit, print_json, state
from nextofkin.errors import NextOfKinError, PermissionDenied
from nextofkin.i18n import N_, _, format_datetime, format_number, label, lazy_gettext, ngettext
from nextofkin.identify.meaning import decision_label
from nextofkin.notify.team_alerts import mail_team

alerts_app = typer.Typer(
    help=lazy_gettext("Alerts of standing searches: accounts worth a look for open cases."),
    invoke_without_command=True,
)

ALERT_STATE_NAMES = {"open": N_("open"), "acknowledged": N_("acknowledged")}


def _why(alert: AlertInfo) -> str:
    """What the score means, and why it was raised when it beats the case's best (as the web)."""
    if alert.reason == AlertReason.BEATS:
        return (
            alert.meaning
            + "; "
            + _("far less likely a stranger than the case's best candidate so far")
        )
    return alert.meaning


def print_alerts(alerts: Sequence[AlertInfo]) -> None:
    """A table of alerts for people."""
    if not alerts:
        console.print(_("no alerts"))
        return
    table = Table(show_lines=False)
    for column in (
        _("id"), _("case"), _("account"), _("score"), _("decision"), _("why"), _("state"),
        _("raised"),
    ):  # fmt: skip
        table.add_column(column, overflow="fold")
    for a in alerts:
        seen = (
            _("acknowledged by %(user)s", user=a.acknowledged_by)
            if a.acknowledged_by
            else label(ALERT_STATE_NAMES, a.state)
        )
        table.add_row(
            *cells(
                a.id,
                a.case_number,
                a.account_ref,
                format_number(a.score, 3),
                decision_label(a.decision),
                _why(a),
                seen,
                format_datetime(a.raised_at),
            )
        )
    console.print(table)


@alerts_app.callback()
@handle_errors
def alerts_command(
    ctx: typer.Context,
    all_states: bool = typer.Option(False, "--all", help=lazy_gettext("Acknowledged alerts too.")),
    case: str | None = typer.Option(None, "--case", help=lazy_gettext("Only alerts of this case.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """List open alerts, newest first (``alerts ack ID`` records that you looked)."""
    if ctx.invoked_subcommand is not None:
        return

    cli = state(ctx)
    with cli.workspace.session() as session:
        alerts = list_alerts(
            session, cli.settings.user, state=None if all_states else "open", case_number=case
        )
    if json_out:
        print_json([a.to_dict() for a in alerts])
        return
    print_alerts(alerts)


@alerts_app.command(
    "ack",
    help=lazy_gettext("Acknowledge an alert as the acting user (audited; it stays acknowledged)."),
)
@handle_errors
def ack_command(
    ctx: typer.Context,
    alert_id: int = typer.Argument(..., help=lazy_gettext("Alert id (from `nextofkin alerts`).")),
    note: str | None = typer.Option(None, "--note", help=lazy_gettext("What you did or saw.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Acknowledge an alert as the acting user (audited; it stays acknowledged)."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        alert = acknowledge(session, cli.settings.user, alert_id, note)
    if json_out:
        print_json(alert.to_dict())
        return
    console.print(
        _(
            "alert %(id)s (case %(number)s) acknowledged by %(user)s",
            id=alert.id,
            number=lit(alert.case_number),
            user=lit(alert.acknowledged_by or ""),
        )
    )


def _print_report(report: RescanReport, mail_note: str | None) -> None:
    if report.note:
        console.print(_("standing searches: %(note)s", note=lit(report.note)))
        return
    console.print(
        _(
            "standing searches: %(cases)s compared with %(faces)s in %(seconds)s s: %(alerts)s",
            cases=ngettext("%(num)d case", "%(num)d cases", report.cases),
            faces=ngettext(
                "%(count)s new face",
                "%(count)s new faces",
                report.faces_compared,
                count=format_number(report.faces_compared),
            ),
            seconds=format_number(report.seconds, 1),
            alerts=ngettext("%(num)d new alert", "%(num)d new alerts", len(report.alerts)),
        )
    )
    if report.alerts:
        print_alerts(report.alerts)
    if mail_note:
        console.print("[yellow]" + _("note:") + f"[/] {lit(mail_note)}")


def _rescan_and_mail(
    cli: CliState, actor: str | None, numbers: Sequence[str] | None
) -> tuple[RescanReport, str | None]:

    report = rescan(cli.workspace, actor, numbers, system=actor is None)
    outcome = mail_team(cli.workspace, report.alerts)
    return report, outcome.note


@handle_errors
def rescan_command(
    ctx: typer.Context,
    numbers: list[str] | None = typer.Argument(
        None, help=lazy_gettext("Only these cases (default: all open).")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Search open cases again against the faces added since their last search or rescan."""
    cli = state(ctx)
    if not cli.settings.user:
        raise PermissionDenied(
            _("no acting user: pass --user NAME or set NEXTOFKIN_USER (see `nextofkin user list`)")
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
            console.print("[yellow]" + _("standing searches not run:") + f"[/] {lit(str(exc))}")
        return {"error": str(exc)}
    if not quiet:
        _print_report(report, note)
    return {**report.to_dict(), "mail_note": note}


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to ``app`` and ``rescan`` to the ``case`` group."""
    app.add_typer(alerts_app, name="alerts")
    if not any(c.name == "rescan" for c in case_app.registered_commands):
        case_app.command(
            "rescan",
            help=lazy_gettext(
                "Search open cases again against the faces added since their last search or rescan."
            ),
        )(rescan_command)
