"""Every table of nextofkin, imported so that one metadata holds the whole schema."""

from __future__ import annotations

import importlib

from nextofkin.db import Base

# Modules that define tables. Add yours here when you add tables.
TABLE_MODULES = [
    "nextofkin.gallery.records",
    "nextofkin.users.records",
    "nextofkin.audit.records",
    "nextofkin.cases.records",
    "nextofkin.cases.standing_records",
    "nextofkin.cases.inquiry_records",
    "nextofkin.notify.records",
]

for _name in TABLE_MODULES:
    importlib.import_module(_name)

metadata = Base.metadata
