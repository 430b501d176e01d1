"""What the catalogue tests compare: the strings the sources mark, and the catalogues' entries.

Extraction runs Babel over ``src`` with the project's ``babel.cfg``, exactly as
``scripts/i18n.sh extract`` does, so a string marked in code but never added to a catalogue is
seen here before anyone sees it untranslated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from nextofkin.i18n import DOMAIN, LOCALE_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None}


@dataclass(frozen=True)
class Marked:
    """One string marked for translation in the sources."""

    msgid: str
    plural: str | None
    context: str | None
    where: str


def marked_strings() -> list[Marked]:
    """Every string the sources mark (``_()``, ``ngettext``, ``{% trans %}``, ...)."""
    with (REPO_ROOT / "babel.cfg").open() as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj)
    found: list[Marked] = []
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(REPO_ROOT / "src"), method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, tuple):
            found.append(Marked(message[0], message[1], context, f"{filename}:{lineno}"))
        else:
            found.append(Marked(message, None, context, f"{filename}:{lineno}"))
    return found


def catalogue(language: str) -> Catalog:
    """The committed ``.po`` catalogue of ``language``."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as fileobj:
        return read_po(fileobj, locale=language, domain=DOMAIN)
