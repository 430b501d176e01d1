"""The workspace: one directory holding the database (SQLite by default) and the vector index.

Opening a workspace creates it if needed and brings its schema up to date with Alembic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from nextofkin.errors import ConfigError
from nextofkin.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + synchronous=NORMAL keeps each committed photo durable across a kill -9 of the process.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite tuned for a single-writer workspace."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema at ``engine`` up to the newest revision (all heads)."""
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
                            f"the schema upgrade left {len(broken)} broken references "
                            f"(first: {tuple(broken[0])}); nothing was committed"
                        )
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


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
        try:
            home.mkdir(parents=True, exist_ok=True)
            (home / "index").mkdir(exist_ok=True)
            (home / "media").mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create workspace {home}: {exc}") from exc
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
