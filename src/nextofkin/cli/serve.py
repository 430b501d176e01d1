"""``nextofkin serve``: the web UI and REST API; ``nextofkin token``: API bearer tokens."""

from __future__ import annotations

import typer

from nextofkin.cli.common import console, handle_errors, print_json, state

token_app = typer.Typer(help="API bearer tokens (Authorization: Bearer ...).", no_args_is_help=True)


@handle_errors
def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: loopback)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    https_only: bool = typer.Option(
        False,
        "--https-only",
        help="Send the session cookie over HTTPS only (behind a TLS proxy); "
        "default: NEXTOFKIN_WEB__HTTPS_ONLY.",
    ),
    max_upload_mb: int | None = typer.Option(
        None,
        "--max-upload-mb",
        min=1,
        help="Largest photo (MB); default: NEXTOFKIN_WEB__MAX_UPLOAD_MB (25).",
    ),
    lazy_models: bool = typer.Option(
        False,
        "--lazy-models",
        help="Load the face models on the first search, not at start; default: "
        "NEXTOFKIN_WEB__LOAD_MODELS.",
    ),
) -> None:
    """Serve the web UI and the REST API (OpenAPI schema at /api/openapi.json)."""
    import uvicorn

    from nextofkin.web.app import create_app
    from nextofkin.web.config import WebConfig

    cli = state(ctx)
    # The settings decide; a flag given on the command line overrides them.
    web = cli.settings.web.model_copy(
        update={
            "max_upload_mb": max_upload_mb or cli.settings.web.max_upload_mb,
            "https_only": https_only or cli.settings.web.https_only,
            "load_models": cli.settings.web.load_models and not lazy_models,
        }
    )
    config = WebConfig.from_settings(web)
    app = create_app(cli.settings, config)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"[yellow]listening on {host}: put a TLS proxy in front and use --https-only[/]"
        )
    console.print(f"nextofkin on [bold]http://{host}:{port}/[/] (workspace {cli.settings.home})")
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


@token_app.command("create")
@handle_errors
def token_create(
    ctx: typer.Context,
    label: str = typer.Option(..., "--label", help="What the token is for."),
    for_user: str | None = typer.Option(None, "--for", help="Whose token (admins; default: you)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Make an API token for the acting user (--user); it is printed once and never stored."""
    from nextofkin.errors import PermissionDenied
    from nextofkin.users.tokens import create_token

    cli = state(ctx)
    actor = cli.settings.user
    if not actor:
        raise PermissionDenied("name the acting user: --user NAME")
    with cli.workspace.session() as session:
        made = create_token(session, actor, for_user or actor, label)
    if json_out:
        print_json({"token": made.token, "id": made.info.id, "user": made.info.user})
        return
    console.print(f"token {made.info.id} for {made.info.user} ({made.info.label}):")
    console.print(made.token, markup=False, highlight=False)


@token_app.command("list")
@handle_errors
def token_list(ctx: typer.Context) -> None:
    """List the acting user's tokens (all tokens for an admin)."""
    from nextofkin.errors import PermissionDenied
    from nextofkin.users.tokens import list_tokens

    cli = state(ctx)
    if not cli.settings.user:
        raise PermissionDenied("name the acting user: --user NAME")
    with cli.workspace.session() as session:
        rows = list_tokens(session, cli.settings.user)
    for t in rows:
        status = "revoked" if t.revoked else "active"
        console.print(f"{t.id:>4}  {t.user:<16} {t.prefix}…  {status:<8} {t.label}", markup=False)


@token_app.command("revoke")
@handle_errors
def token_revoke(ctx: typer.Context, token_id: int = typer.Argument(...)) -> None:
    """Revoke a token."""
    from nextofkin.errors import PermissionDenied
    from nextofkin.users.tokens import revoke_token

    cli = state(ctx)
    if not cli.settings.user:
        raise PermissionDenied("name the acting user: --user NAME")
    with cli.workspace.session() as session:
        revoke_token(session, cli.settings.user, token_id)
    console.print(f"revoked token {token_id}")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``token`` to ``app``."""
    app.command("serve")(serve_command)
    app.add_typer(token_app, name="token")
