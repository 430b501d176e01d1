"""What people read for a role (the stored and JSON value stays the English enum value)."""

from __future__ import annotations

from nextofkin.i18n import N_, label
from nextofkin.users.service import Role

ROLE_NAMES: dict[str, str] = {
    Role.INVESTIGATOR: N_("investigator"),
    Role.REVIEWER: N_("reviewer"),
    Role.ADMIN: N_("admin"),
    # The inquiries' role (issue 19), named by value until its enum member lands.
    "intake": N_("intake"),
}


def role_label(role: object) -> str:
    """``role`` in the current language."""
    return label(ROLE_NAMES, role)
