"""The one translation layer: every user-facing string goes through gettext catalogues (Babel).

Catalogues live in ``nextofkin/locale/<lang>/LC_MESSAGES/nextofkin.po`` (committed); the set-up
and test scripts compile them to ``.mo`` with ``pybabel compile``. When a ``.mo`` is missing or
older than its ``.po`` (a checkout that never ran the set-up, a catalogue just edited), the ``.po``
is compiled in memory on first use instead, so the package always works from its sources and
never writes into its own directory (which may be read-only).

The language is a context variable, set per web request (the user's setting, else the browser's
``Accept-Language``) and per command (``--language``, else ``NEXTOFKIN_LANGUAGE``); everything
below the edge calls :func:`gettext` / :func:`ngettext` and gets the current language. Machine
fields (JSON keys, enum values, decision codes) are never translated: only what a person reads.
Dates and numbers are formatted per locale by :func:`format_datetime` and :func:`format_number`.
See ``docs/I18N.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from babel import Locale, UnknownLocaleError, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

if TYPE_CHECKING:
    from jinja2 import Environment

DOMAIN = "nextofkin"
LOCALE_DIR = Path(__file__).parent / "locale"
# Ukrainian and English are complete (a test holds it); Russian is kept where the team wants it.
LANGUAGES: tuple[str, ...] = ("uk", "en", "ru")
DEFAULT_LANGUAGE = "en"
# The language the msgids are written in: it needs no catalogue entry to be complete.
SOURCE_LANGUAGE = "en"

_current: ContextVar[str] = ContextVar("nextofkin_language", default=DEFAULT_LANGUAGE)
_loaded: dict[str, NullTranslations] = {}
_load_lock = threading.Lock()


def normalise_language(value: str | None) -> str | None:
    """``value`` as one of :data:`LANGUAGES` (``uk_UA``, ``uk-ua`` → ``uk``), or None."""
    if not value:
        return None
    code = value.strip().replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def current_language() -> str:
    """The language of the current request or command."""
    return _current.get()


def set_language(language: str | None) -> str:
    """Make ``language`` (or the default, when unknown) current in this context; returns it."""
    chosen = normalise_language(language) or DEFAULT_LANGUAGE
    _current.set(chosen)
    return chosen


@contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Run a block in ``language`` (for output meant for someone else, such as a report)."""
    token = _current.set(normalise_language(language) or DEFAULT_LANGUAGE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The language for a person: their own setting first, then their browser's preference.

    ``accept_language`` is an HTTP ``Accept-Language`` value (``uk-UA,uk;q=0.9,en;q=0.8``).
    """
    chosen = normalise_language(preferred)
    if chosen:
        return chosen
    if accept_language:
        ranked: list[tuple[float, int, str]] = []
        for order, part in enumerate(accept_language.split(",")):
            tag, _sep, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            code = normalise_language(tag)
            if code and quality > 0:
                ranked.append((-quality, order, code))
        if ranked:
            return min(ranked)[2]
    return DEFAULT_LANGUAGE


def _compile(language: str) -> NullTranslations:
    """The catalogue of ``language``: its ``.mo`` when current, else its ``.po`` compiled now."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def translations(language: str | None = None) -> NullTranslations:
    """The loaded catalogue of ``language`` (default: the current one), loaded once."""
    code = normalise_language(language) or current_language()
    found = _loaded.get(code)
    if found is None:
        with _load_lock:
            found = _loaded.get(code)
            if found is None:
                found = _compile(code)
                _loaded[code] = found
    return found


def gettext(message: str, /, **variables: Any) -> str:
    """``message`` in the current language; ``%(name)s`` placeholders filled from ``variables``."""
    text = translations().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> str:
    """The form of ``singular``/``plural`` that goes with the count ``n`` (``%(num)d`` is n).

    Ukrainian and Russian have three forms (1 фото, 2 фото, 5 фото; 1 обліковий запис,
    2 облікові записи, 5 облікових записів): the catalogue's ``Plural-Forms`` picks one.
    """
    text = translations().ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def pgettext(context: str, message: str, /, **variables: Any) -> str:
    """``message`` in the current language where the same English word needs two translations."""
    text = str(translations().pgettext(context, message))
    return text % variables if variables else text


def lazy_gettext(message: str) -> str:
    """``message`` translated when it is shown, not when it is defined (CLI help written at import
    time, module-level labels). Typed as ``str`` because it acts as one wherever it is used (a
    Babel ``LazyProxy``: every string operation translates it first)."""
    return cast(str, LazyProxy(gettext, message, enable_cache=False))


# The short name extraction looks for, for use in modules that translate many strings.
_ = gettext


def N_(message: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Mark ``message`` for extraction without translating it yet (labels in tables of enums,
    translated with :func:`gettext` where they are shown)."""
    return message


LANGUAGE_NAMES: dict[str, str] = {
    "uk": N_("Ukrainian"),
    "en": N_("English"),
    "ru": N_("Russian"),
}


def language_name(code: object) -> str:
    """A language's name in the current language (``uk`` → "Ukrainian" / "українська")."""
    return label(LANGUAGE_NAMES, code)


def native_language_name(code: object) -> str:
    """A language's name in itself, as a language menu shows it (``uk`` → "українська")."""
    key = str(code)
    if normalise_language(key) != key:
        return key
    with use_language(key):
        return language_name(key)


def label(table: Mapping[str, str], value: object) -> str:
    """The translated label of an enum value from a table of :func:`N_`-marked names; a value
    missing from the table is shown as it is (stored rows may hold a retired value)."""
    key = str(value)
    return gettext(table[key]) if key in table else key


def locale() -> Locale:
    """The Babel locale of the current language (number, date and plural rules)."""
    try:
        return Locale.parse(current_language())
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANGUAGE)


def format_number(value: float, digits: int | None = None) -> str:
    """``value`` with the locale's grouping and decimal sign (12 345,6 in Ukrainian)."""
    if digits is None:
        return numbers.format_decimal(value, locale=locale())
    pattern = "#,##0." + "0" * digits if digits > 0 else "#,##0"
    return numbers.format_decimal(value, format=pattern, locale=locale())


def format_percent(value: float) -> str:
    """A share (0.25) as the locale writes a percentage (25 %)."""
    return numbers.format_percent(value, locale=locale())


def format_datetime(value: datetime | date | None, *, with_time: bool = True) -> str:
    """A date-time as the locale writes it: the month by name, so 2.12 and 12/2 never mix up,
    and a 24-hour time (the teams' habit, and what logs and the audit show)."""
    if value is None:
        return "—"
    day = dates.format_date(value, "medium", locale=locale())
    if isinstance(value, datetime) and with_time:
        return f"{day} {value:%H:%M}"
    return day


def install_jinja(env: Environment) -> None:
    """Give a Jinja2 environment ``{% trans %}``, ``_()`` and ``ngettext`` in the current language.

    New-style gettext: ``{{ _("Hello %(name)s", name=user) }}`` escapes ``name`` as any value.
    The callables read the context variable at render time, so one environment serves every
    language.
    """
    env.add_extension("jinja2.ext.i18n")
    # Whitespace inside {% trans %} is collapsed, as babel.cfg tells extraction to do.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: translations().gettext(message),
        lambda singular, plural, n: translations().ngettext(singular, plural, n),
        newstyle=True,
        pgettext=lambda context, message: translations().pgettext(context, message),
    )
    env.filters["number"] = format_number
    env.filters["percent"] = format_percent
    env.filters["language_name"] = language_name
    env.filters["native_language_name"] = native_language_name
    env.globals["current_language"] = current_language
