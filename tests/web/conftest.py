"""Fixtures of the web tests (defined in ``web_helpers`` beside the helpers they use)."""

from web_helpers import anon, app, team, template_home, web_settings  # noqa: F401
