"""The ``nextofkin eval`` command group, which several areas add their evaluations to.

Modules add commands to :data:`eval_app` in their own ``register``; this module only mounts the
group on the main application.
"""

from __future__ import annotations

import typer

from nextofkin.i18n import lazy_gettext

eval_app = typer.Typer(
    name="eval",
    help=lazy_gettext(
        "Measure accuracy on protocol files (LFW pairs, 1:N protocols, kin protocols)."
    ),
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Mount the ``eval`` group on ``app``."""
    app.add_typer(eval_app, name="eval")
