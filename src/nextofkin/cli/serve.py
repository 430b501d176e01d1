"""``nextofkin serve``: the web UI and REST API; ``nextofkin token``: API bearer tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from nextofkin.cli.common import CliState, console, handle_errors, print_json, state
from nextofkin.errors import PermissionDenied
from nextofkin.i18n import _, lazy_gettext
from nextofkin.users.tokens import create_token, list_tokens, revoke_token

if TYPE_CHECKING:
    from fastapi import FastAPI

token_app = typer.Typer(
    help=lazy_gettext("API bearer tokens (Authorization: Bearer ...)."), no_args_is_help=True
)


@handle_errors
def serve_command(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1", "--host", help=lazy_gettext("Address to bind (default: loopback).")
    ),
    port: int = typer.Option(
        8000, "--port", min=1, max=65535, help=lazy_gettext("Port to listen on.")
    ),
    https_only: bool = typer.Option(
        False,
        "--https-only",
        help=lazy_gettext(
            "Send the session cookie over HTTPS only (behind a TLS proxy); "
            "default: NEXTOFKIN_WEB__HTTPS_ONLY."
        ),
    ),
    max_upload_mb: int | None = typer.Option(
        None,
        "--max-upload-mb",
        min=1,
        help=lazy_gettext("Largest photo (MB); default: NEXTOFKIN_WEB__MAX_UPLOAD_MB (25)."),
    ),
    lazy_models: bool = typer.Option(
        False,
        "--lazy-models",
        help=lazy_gettext(
            "Load the face models on the first search, not at start; default: "
            "NEXTOFKIN_WEB__LOAD_MODELS."
        ),
    ),
) -> None:
    """Serve the web UI and the REST API (OpenAPI schema at /api/openapi.json)."""
    import uvicorn

    cli = state(ctx)
    app = _web_app(cli, https_only=https_only, max_upload_mb=max_upload_mb, lazy=lazy_models)
    if host not in ("127.0.0.1", "localhost", "::1"):
        warning = _(
            "listening on %(host)s: put a TLS proxy in front and use --https-only", host=host
        )
        console.print(f"[yellow]{warning}[/]")
    console.print(
        _(
            "nextofkin on %(url)s (workspace %(home)s)",
            url=f"[bold]http://{host}:{port}/[/]",
            home=cli.settings.home,
        )
    )
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


def _web_app(cli: CliState, *, https_only: bool, max_upload_mb: int | None, lazy: bool) -> FastAPI:
    """The web application: the settings decide, a flag given on the command line overrides."""
    # The web layer (FastAPI, Jinja, its routes) loads only for `serve`: start-up time.
    from nextofkin.web.app import create_app
    from nextofkin.web.config import WebConfig

    web = cli.settings.web.model_copy(
        update={
            "max_upload_mb": max_upload_mb or cli.settings.web.max_upload_mb,
            "https_only": https_only or cli.settings.web.https_only,
            "load_models": cli.settings.web.load_models and not lazy,
        }
    )
    return create_app(cli.settings, WebConfig.from_settings(web))


def _no_actor() -> PermissionDenied:
    return PermissionDenied(_("name the acting user: --user NAME"))


@token_app.command(
    "create",
    help=lazy_gettext(
        "Make an API token for the acting user (--user); it is printed once and never stored."
    ),
)
@handle_errors
def token_create(
    ctx: typer.Context,
    label: str = typer.Option(..., "--label", help=lazy_gettext("What the token is for.")),
    for_user: str | None = typer.Option(
        None, "--for", help=lazy_gettext("Whose token (admins; default: you).")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Make an API token for the acting user (--user); it is printed once and never stored."""
    cli = state(ctx)
    actor = cli.settings.user
    if not actor:
        raise _no_actor()
    with cli.workspace.session() as session:
        made = create_token(session, actor, for_user or actor, label)
    if json_out:
        print_json({"token": made.token, "id": made.info.id, "user": made.info.user})
        return
    console.print(
        _(
            "token %(id)s for %(user)s (%(label)s):",
            id=made.info.id,
            user=made.info.user,
            label=made.info.label,
        ),
        markup=False,
    )
    console.print(made.token, markup=False, highlight=False)


@token_app.command(
    "list", help=lazy_gettext("List the acting user's tokens (all tokens for an admin).")
)
@handle_errors
def token_list(ctx: typer.Context) -> None:
    """List the acting user's tokens (all tokens for an admin)."""
    cli = state(ctx)
    if not cli.settings.user:
        raise _no_actor()
    with cli.workspace.session() as session:
        rows = list_tokens(session, cli.settings.user)
    for t in rows:
        status = _("revoked") if t.revoked else _("active")
        console.print(f"{t.id:>4}  {t.user:<16} {t.prefix}…  {status:<8} {t.label}", markup=False)


@token_app.command("revoke", help=lazy_gettext("Revoke a token."))
@handle_errors
def token_revoke(
    ctx: typer.Context,
    token_id: int = typer.Argument(..., help=lazy_gettext("Token id (from `token list`).")),
) -> None:
    """Revoke a token."""
    cli = state(ctx)
    if not cli.settings.user:
        raise _no_actor()
    with cli.workspace.session() as session:
        revoke_token(session, cli.settings.user, token_id)
    console.print(_("revoked token %(id)s", id=token_id))


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``token`` to ``app``."""
    app.command(
        "serve",
        help=lazy_gettext(
            "Serve the web UI and the REST API (OpenAPI schema at /api/openapi.json)."
        ),
    )(serve_command)
    app.add_typer(token_app, name="token")
