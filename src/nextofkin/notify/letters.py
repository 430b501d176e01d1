"""The letter itself: the Jinja2 templates (the workspace's own first), dates in words, and the
check that the rendered text says who writes and how to reach them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from nextofkin.errors import ConfigError, InputError
from nextofkin.i18n import _
from nextofkin.notify.model import Language
from nextofkin.workspace import Workspace


def human_date(value: str | None, language: str) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    except ValueError:
        return value
    months = [
        *("January", "February", "March", "April", "May", "June", "July", "August"),
        *("September", "October", "November", "December"),
    ]
    with_time = isinstance(moment, datetime) and (moment.hour or moment.minute)
    if language == Language.EN:
        text = f"{moment.day} {months[moment.month - 1]} {moment.year}"
        return f"{text}, {moment:%H:%M}" if with_time else text
    text = f"{moment:%d.%m.%Y}"
    return f"{text} {moment:%H:%M}" if with_time else text


def template_environment(workspace: Workspace) -> Any:
    """Jinja2 templates: the workspace's ``templates/notify/`` first, then the shipped ones."""
    from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(workspace.home / "templates" / "notify")),
                PackageLoader("nextofkin.notify", "templates"),
            ]
        ),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text messages
        keep_trailing_newline=True,
    )


def render(workspace: Workspace, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """The subject and body for ``language`` with ``context``."""
    from jinja2 import TemplateError

    env = template_environment(workspace)
    try:
        subject = env.get_template(f"{language}/subject.txt.j2").render(**context)
        body = env.get_template(f"{language}/body.txt.j2").render(**context)
    except TemplateError as exc:
        raise InputError(
            _("notification template (%(language)s) failed: %(exc)s", language=language, exc=exc)
        ) from exc
    return " ".join(subject.split()), body


def team_check(workspace: Workspace, body: str) -> None:
    """A letter must say who writes and how to reach them (ConfigError/InputError if not)."""
    team = workspace.settings.notify
    contacts = [c for c in (team.team_phone, team.team_email) if c and c.strip()]
    if not (team.team_name and team.team_name.strip()) or not contacts:
        raise ConfigError(
            _(
                "a letter to a family needs the team's name and a way to reach it: set "
                "NEXTOFKIN_NOTIFY__TEAM_NAME and NEXTOFKIN_NOTIFY__TEAM_PHONE or "
                "__TEAM_EMAIL",
            )
        )
    # A team's own template could leave them out: the rendered text itself must carry them.
    if team.team_name.strip() not in body or not any(c.strip() in body for c in contacts):
        raise InputError(
            _(
                "the rendered letter does not contain the team's name and a phone or "
                "e-mail to reach it: check the notification template",
            )
        )
