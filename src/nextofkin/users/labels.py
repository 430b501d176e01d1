"""What people read for a role (the stored and JSON value stays the English enum value).

The table lives beside the enum in :mod:`nextofkin.users.service` (whose errors name roles too);
this module is where the other layers take it from.
"""

from __future__ import annotations

from nextofkin.users.service import ROLE_NAMES, role_label

__all__ = ["ROLE_NAMES", "role_label"]
