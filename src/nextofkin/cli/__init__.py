"""The ``nextofkin`` command: one Typer app, with each command group in its own module.

Every module here registers its commands through ``register(app)``; none does work at import time.
The heavy modules a command needs (the web layer, the report, evaluation, kin, notify, inquiries)
are imported inside it, so ``nextofkin --help`` and the light commands start without them;
``tests/cli/test_cli_imports.py`` holds that every such import is of a module the app does not
load anyway (anything else is imported at the top).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from typer.core import TyperOption

from nextofkin import i18n
from nextofkin.cli.common import install_global_options, translate_typer_words

# Modules that contribute commands; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = [
    "nextofkin.cli.core",
    "nextofkin.cli.index",
    "nextofkin.cli.demo",
    "nextofkin.cli.users",
    "nextofkin.cli.cases",
    "nextofkin.cli.alerts",
    "nextofkin.cli.case_import",
    "nextofkin.cli.review",
    "nextofkin.cli.inquiries",
    "nextofkin.cli.audit",
    "nextofkin.cli.notify",
    "nextofkin.cli.purge",
    "nextofkin.cli.sample_gallery",
    "nextofkin.cli.kin",
    "nextofkin.cli.serve",
    "nextofkin.cli.eval_group",
    "nextofkin.cli.evaluate",
    "nextofkin.cli.calibrate",
]


def build_app() -> typer.Typer:
    """The full command-line application."""
    app = typer.Typer(
        name="nextofkin",
        help=i18n.gettext(
            "Identify unidentified dead people from photographs and help reach their families."
        ),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    install_global_options(app)
    translate_typer_words()
    _flags_take_no_value()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def _flags_take_no_value() -> None:
    """Show no type for flags in help: Typer labels each ``<bool>``, as if it took a value."""
    if getattr(TyperOption.display_type_rich, "_nextofkin", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._nextofkin = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def main() -> None:
    """Entry point of the ``nextofkin`` console script."""
    # Help is written when the app is built: its language is chosen before (issue 18).
    i18n.set_language(language_asked(sys.argv[1:], os.environ.get("NEXTOFKIN_LANGUAGE")))
    build_app()()


def language_asked(args: list[str], env: str | None) -> str | None:
    """The language a command line asks for (``--language X``, else the environment's)."""
    for i, arg in enumerate(args):
        if arg == "--language" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--language="):
            return arg.split("=", 1)[1]
    return env
