"""The workspace: one directory holding the database (SQLite by default) and the vector index.

Opening a workspace creates it if needed and brings its schema up to date with Alembic.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from nextofkin.errors import ConfigError
from nextofkin.i18n import _
from nextofkin.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# Written once the workspace's files were made owner-only (see :func:`make_private`).
PRIVATE_MARKER = ".owner-only"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + synchronous=NORMAL keeps each committed photo durable across a kill -9 of the process.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted rows (purged face vectors) are overwritten with zeros, not left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite tuned for a single-writer workspace."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


# ``revision = "..."`` and ``down_revision = None | "..." | ("...", ...)`` as Alembic writes them.
_REVISION = re.compile(
    r"^(down_revision|revision)\b[^=\n]*=\s*(None|\"[^\"]*\"|'[^']*'|\([^)]*\))", re.MULTILINE
)


def script_heads() -> set[str]:
    """The head revisions of the migration scripts (those no script names as its
    ``down_revision``), read from the scripts' source without loading Alembic; empty (so the
    workspace is migrated by Alembic) when a script does not read as expected."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if set(found) != {"revision", "down_revision"}:
            return set()
        revisions.add(str(ast.literal_eval(found["revision"])))
        down = ast.literal_eval(found["down_revision"])
        if down:
            downs.update([down] if isinstance(down, str) else down)
    return revisions - downs


def at_heads(engine: Engine) -> bool:
    """Whether the database at ``engine`` already stands at every head revision."""
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:
        return False  # a new database: no version table yet
    heads = script_heads()
    return bool(heads) and {row[0] for row in rows} == heads


def migrate(engine: Engine) -> None:
    """Bring the schema at ``engine`` up to the newest revision (all heads)."""
    # Every command opens the workspace: when nothing is to be done, say so without importing
    # Alembic and every migration script (a third of a second of each command's start).
    if at_heads(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Table rebuilds (SQLite's only way to change a table) drop the old table, which
            # with foreign keys on would cascade-delete every row referring to it. The pragma
            # only takes effect outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "heads")
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise ConfigError(
                            _(
                                "the schema upgrade left %(n_broken)s broken references (first: "
                                "%(broken)s); nothing was committed",
                                n_broken=len(broken),
                                broken=tuple(broken[0]),
                            )
                        )
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def make_private(home: Path) -> int:
    """Take group and other permissions off ``home`` and everything in it; returns how many
    entries changed. Read-only files stay read-only (case photos: 0444 -> 0400)."""
    changed = 0

    def tighten(path: Path) -> None:
        nonlocal changed
        try:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or not mode & 0o077:
                return
            path.chmod(stat.S_IMODE(mode) & 0o700)
            changed += 1
        except OSError as exc:
            log.warning("cannot make %s owner-only: %s", path, exc)

    tighten(home)
    for root, dirs, files in os.walk(home):
        for name in (*dirs, *files):
            tighten(Path(root) / name)
    return changed


def _private_home(home: Path) -> None:
    """Tighten an older workspace's existing files once (new ones follow the umask)."""
    marker = home / PRIVATE_MARKER
    if marker.exists() and not home.stat().st_mode & 0o077:
        return
    changed = make_private(home)
    if changed:
        log.info("made %d entries of workspace %s owner-only", changed, home)
    marker.touch()


@dataclass
class Workspace:
    """An opened workspace: settings, database and where the index lives."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)

    @property
    def home(self) -> Path:
        """The workspace directory."""
        return self.settings.home

    @property
    def index_dir(self) -> Path:
        """Where the vector index and its description live."""
        return self.home / "index"

    @property
    def media_dir(self) -> Path:
        """Where case photos and generated files are kept."""
        return self.home / "media"

    @classmethod
    def open(cls, settings: Settings, *, migrate_schema: bool = True) -> Workspace:
        """Open (creating if needed) the workspace that ``settings`` name."""
        home = settings.home
        # Process-wide: files in the workspace are written by SQLite (-wal, -shm), FAISS, NumPy,
        # WeasyPrint and others, and the umask is the one setting all of them obey. Files this
        # process writes elsewhere (a report --out) become owner-only too: they hold the same.
        os.umask(0o077)
        try:
            home.mkdir(parents=True, exist_ok=True)
            _private_home(home)
            (home / "index").mkdir(exist_ok=True)
            (home / "media").mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                _("cannot create workspace %(home)s: %(exc)s", home=home, exc=exc)
            ) from exc
        url = settings.database_url or f"sqlite:///{home / 'nextofkin.db'}"
        engine = make_engine(url)
        if migrate_schema:
            migrate(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        log.debug("opened workspace %s (%s)", home, engine.url.render_as_string())
        return cls(settings=settings, engine=engine, sessions=sessions)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()
