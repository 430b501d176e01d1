"""``nextofkin user``: add, list, deactivate and reactivate users, and change roles."""

from __future__ import annotations

import sys
from dataclasses import asdict

import typer
from rich.table import Table

from nextofkin.cli.common import cells, console, handle_errors, print_json, state
from nextofkin.i18n import _, format_datetime, language_name, lazy_gettext
from nextofkin.users.labels import role_label
from nextofkin.users.preferences import set_language
from nextofkin.users.service import Permission, add_user, list_users, require, set_active, set_role

user_app = typer.Typer(
    help=lazy_gettext("Users and roles (investigator, reviewer, admin, intake)."),
    no_args_is_help=True,
)


@user_app.command(
    "add",
    help=lazy_gettext(
        "Add a user. The first user must be an admin; after that only admins add users."
    ),
)
@handle_errors
def add_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help=lazy_gettext("User name (letters, digits, . _ @ -).")),
    role: str = typer.Option(
        ..., "--role", help=lazy_gettext("investigator, reviewer, admin or intake.")
    ),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help=lazy_gettext("Read a password for the web UI from standard input."),
    ),
) -> None:
    """Add a user. The first user must be an admin; after that only admins add users."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    cli = state(ctx)
    with cli.workspace.session() as session:
        info = add_user(session, cli.settings.user, name, role, password=password)
    console.print(
        _(
            "added user %(name)s (%(role)s)",
            name=f"[bold]{info.name}[/]",
            role=role_label(info.role),
        )
    )


@user_app.command(
    "list", help=lazy_gettext("List users and their roles (admins only, as in the web UI).")
)
@handle_errors
def list_command(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """List users and their roles (admins only, as in the web UI)."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        require(session, cli.settings.user, Permission.MANAGE_USERS)
        users = list_users(session)
    if json_out:
        print_json([asdict(u) for u in users])
        return
    table = Table()
    for column in (_("name"), _("role"), _("active"), _("password"), _("created"), _("by")):
        table.add_column(column)
    for u in users:
        table.add_row(
            *cells(
                u.name,
                role_label(u.role),
                _("yes") if u.active else _("no"),
                _("set") if u.has_password else "-",
                format_datetime(u.created_at),
                u.created_by or "-",
            )
        )
    console.print(table)


@user_app.command(
    "deactivate",
    help=lazy_gettext(
        "Deactivate a user (users are never deleted, so the audit log keeps its meaning)."
    ),
)
@handle_errors
def deactivate_command(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Deactivate a user (users are never deleted, so the audit log keeps its meaning)."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        set_active(session, cli.settings.user, name, False)
    console.print(_("deactivated %(name)s (their web sessions are ended)", name=name), markup=False)


@user_app.command("activate", help=lazy_gettext("Reactivate a deactivated user (admins only)."))
@handle_errors
def activate_command(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Reactivate a deactivated user (admins only)."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        set_active(session, cli.settings.user, name, True)
    console.print(_("activated %(name)s", name=name), markup=False)


@user_app.command(
    "role",
    help=lazy_gettext(
        "Give a user another role (admins only; the last active admin stays an admin)."
    ),
)
@handle_errors
def role_command(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    role: str = typer.Option(
        ..., "--role", help=lazy_gettext("investigator, reviewer, admin or intake.")
    ),
) -> None:
    """Give a user another role (admins only; the last active admin stays an admin)."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        info = set_role(session, cli.settings.user, name, role)
    console.print(
        _("%(name)s is now %(role)s", name=info.name, role=role_label(info.role)), markup=False
    )


@user_app.command("language", help=lazy_gettext("Set the language a user's web pages are in."))
@handle_errors
def language_command(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., help=lazy_gettext("User name (yourself, or anyone for an admin).")
    ),
    language: str = typer.Argument(
        ..., help=lazy_gettext("uk, en or ru; 'browser' to follow the browser's Accept-Language.")
    ),
) -> None:
    """Set the language a user's web pages are in."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        actor = require(session, cli.settings.user, Permission.VIEW)
        if actor.name != name:
            require(session, actor.name, Permission.MANAGE_USERS)
        chosen = set_language(session, name, None if language == "browser" else language)
    shown = language_name(chosen) if chosen else _("as the browser asks")
    console.print(_("%(name)s's pages: %(language)s", name=name, language=shown), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``user`` to ``app``."""
    app.add_typer(user_app, name="user")
