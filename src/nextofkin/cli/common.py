"""What every command shares: global options, the workspace, output and error handling."""

from __future__ import annotations

import functools
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from nextofkin import audit, i18n
from nextofkin.cli import click_words
from nextofkin.errors import NextOfKinError, NoFaceFound
from nextofkin.settings import Settings
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
# Errors are one line that scripts can grep: never wrapped.
err_console = Console(stderr=True, soft_wrap=True)


@dataclass
class CliState:
    """Options given before the command name, and the lazily opened workspace."""

    workspace_path: Path | None = None
    user: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _workspace: Workspace | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """Settings from the environment, with ``--workspace``/``--user`` applied."""
        if self._settings is None:
            self._settings = Settings.load(self.workspace_path)
            if self.user:
                self._settings.user = self.user
        return self._settings

    @property
    def workspace(self) -> Workspace:
        """The opened workspace (created and migrated on first use)."""
        if self._workspace is None:
            self._workspace = Workspace.open(self.settings)
        return self._workspace


def state(ctx: typer.Context) -> CliState:
    """The shared CLI state from a Typer context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def install_global_options(app: typer.Typer) -> None:
    """Add ``--workspace``, ``--user`` and ``--verbose`` before any command."""

    @app.callback()
    def _global(
        ctx: typer.Context,
        workspace: Path | None = typer.Option(
            None,
            "--workspace",
            "-w",
            envvar="NEXTOFKIN_HOME",
            help=i18n.gettext(
                "Workspace directory (database and index). Default: ~/.local/share/nextofkin."
            ),
        ),
        user: str | None = typer.Option(
            None,
            "--user",
            envvar="NEXTOFKIN_USER",
            help=i18n.gettext("The user this command acts as."),
        ),
        verbose: bool = typer.Option(
            False, "--verbose", "-v", help=i18n.gettext("Log debug messages.")
        ),
        language: str | None = typer.Option(
            None,
            "--language",
            envvar="NEXTOFKIN_LANGUAGE",
            help=i18n.gettext("Language of messages and reports: uk, en or ru. Default: en."),
        ),
    ) -> None:
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        choose_language(language)
        ctx.obj = CliState(workspace_path=workspace, user=user)


def choose_language(language: str | None) -> str:
    """Make ``language`` the language of this command's output (an unknown one is an error)."""
    if language is not None and i18n.normalise_language(language) is None:
        raise typer.BadParameter(
            i18n.gettext(
                "unknown language %(language)s (one of: %(known)s)",
                language=language,
                known=", ".join(i18n.LANGUAGES),
            ),
            param_hint="--language",
        )
    chosen = i18n.set_language(language)
    translate_typer_words()
    return chosen


def translate_typer_words() -> None:
    """Typer's own words on help pages and usage errors (panel titles, the default, env var and
    required markers, the "Try … --help" hint) in the current language.

    Typer keeps them as module constants that it reads each time it draws a page, so setting
    them before a page is drawn, in the language current then, is enough. Click's "Usage:" and
    its --help line are literals in its code: wrappers put them in the language (below).
    """
    _translate_click_words()
    click_words.install()
    if "typer.rich_utils" in sys.modules:
        _typer_words()


def _typer_words() -> None:
    """Typer's words in the current language. Deferred until a help page or an error is drawn
    (``usage`` below runs first on both): ``typer.rich_utils`` brings rich's Markdown, syntax and
    traceback modules, a tenth of a second and more on every command, and Typer itself loads it
    only to draw."""
    from typer import rich_utils  # deferred: see the docstring

    rich_utils.ARGUMENTS_PANEL_TITLE = i18n.gettext("Arguments")
    rich_utils.OPTIONS_PANEL_TITLE = i18n.gettext("Options")
    rich_utils.COMMANDS_PANEL_TITLE = i18n.gettext("Commands")
    rich_utils.ERRORS_PANEL_TITLE = i18n.gettext("Error")
    rich_utils.DEFAULT_STRING = i18n.gettext("[default: {}]")
    rich_utils.ENVVAR_STRING = i18n.gettext("[env var: {}]")
    rich_utils.REQUIRED_LONG_STRING = i18n.gettext("[required]")
    rich_utils.DEPRECATED_STRING = i18n.gettext("(deprecated) ")
    rich_utils.RICH_HELP = i18n.gettext("Try [blue]'{command_path} {help_option}'[/] for help.")


def _translate_click_words() -> None:
    """Click's "Usage:" and its --help line are literals in its code: every command class Typer
    builds gets them from these wrappers instead, in the language current when a page is drawn.
    Installed once; idempotent."""
    for cls in (TyperCommand, TyperGroup):
        if getattr(cls.get_usage, "_nextofkin", False):
            continue
        cls.get_usage = _usage_in_language(cls.get_usage)  # type: ignore[method-assign,assignment]
        cls.get_help_option = _help_option_in_language(cls.get_help_option)  # type: ignore[method-assign,assignment]


def _usage_in_language(get_usage: Callable[[Any, Any], str]) -> Callable[[Any, Any], str]:
    def usage(self: Any, ctx: Any) -> str:
        _typer_words()
        return get_usage(self, ctx).replace("Usage: ", i18n.gettext("Usage: "), 1)

    usage._nextofkin = True  # type: ignore[attr-defined]
    return usage


def _help_option_in_language(get_option: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def help_option(self: Any, ctx: Any) -> Any:
        option = get_option(self, ctx)
        if option is not None:
            option.help = i18n.gettext("Show this message and exit.")
        return option

    return help_option


def lit(value: object) -> str:
    """``value`` as text that rich prints literally: stored and user-given text may hold
    ``[...]`` that would otherwise be read as markup (a crash, or a terminal hyperlink)."""
    return escape(str(value))


def cells(*values: object) -> list[Text]:
    """Table cells printed literally (see :func:`lit`)."""
    return [Text(str(v)) for v in values]


def os_user() -> str:
    """The operating-system account running this command (recorded beside the acting user)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (containers)
        return f"uid {os.getuid()}"


def record_action(cli: CliState, action: StrEnum, subject: str, details: dict[str, Any]) -> None:
    """Audit a workspace-wide action (ingest, reindex, calibrate).

    The acting user, when named, must be an active user; the operating-system account is
    recorded too, so an entry names who ran it even where no user was given.
    """
    actor = cli.settings.user
    with cli.workspace.session() as session:
        if actor:
            actor = require(session, actor, Permission.VIEW).name
        audit.record(session, actor, action, subject, {**details, "os_user": os_user()})


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (plain, for scripts)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


EXIT_DOMAIN_ERROR = 1
EXIT_NO_FACE = 3


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn nextofkin errors into one line, ``Error (Kind): message``, and a non-zero exit code.

    One style for every error, so a script greps one prefix and a person reads the kind first.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except NextOfKinError as exc:
            err_console.print(f"[bold red]Error ({type(exc).__name__}):[/] {lit(exc)}")
            if isinstance(exc, NoFaceFound):
                for attempt in exc.tried:
                    tried = i18n.gettext("tried %(attempt)s", attempt=attempt)
                    err_console.print(f"  {tried}", markup=False, highlight=False)
                raise typer.Exit(EXIT_NO_FACE) from exc
            raise typer.Exit(EXIT_DOMAIN_ERROR) from exc

    return wrapper
