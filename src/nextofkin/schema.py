"""Every table of nextofkin, imported so that one metadata holds the whole schema.

It imports the table modules of every layer, so it sits above them all in the layers contract
(with ``migrations``, whose ``env.py`` is its only user besides tests). Add your module here when
you add tables.
"""

from __future__ import annotations

from nextofkin.audit import records as audit_records
from nextofkin.cases import inquiry_records, standing_records
from nextofkin.cases import records as case_records
from nextofkin.db import Base
from nextofkin.gallery import records as gallery_records
from nextofkin.notify import records as notify_records
from nextofkin.users import records as user_records

# Importing a module registers its tables in Base's metadata.
TABLE_MODULES = (
    gallery_records,
    user_records,
    audit_records,
    case_records,
    standing_records,
    inquiry_records,
    notify_records,
)

metadata = Base.metadata
