"""The declarative base every table derives from, and small column helpers.

Tables live beside the domain code that owns them (``gallery/records.py``, ``cases/records.py``,
…); all share this metadata so that Alembic sees one schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import DateTime, Integer, LargeBinary, MetaData, Table, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def has_surrogate_id(table: Table) -> bool:
    """Whether ``table``'s key is one integer the database assigns (not one the code sets)."""
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        return False
    column = columns[0]
    return isinstance(column.type, Integer) and column.autoincrement in (True, "auto")


class Base(DeclarativeBase):
    """Base class of every table.

    Every table whose key the database assigns gets ``sqlite_autoincrement``: SQLite otherwise
    hands a deleted row's id (a purged face's, say) to the next insert, and ids are shown,
    cached and stored in case records, where a reused one would mean another person.
    PostgreSQL sequences never reuse ids. Migrations creating such tables pass the same flag.
    """

    metadata = MetaData(naming_convention=NAMING)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__table__")
        if isinstance(table, Table) and has_surrogate_id(table):
            table.dialect_kwargs["sqlite_autoincrement"] = True


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored naive-UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Float32Vector(TypeDecorator[np.ndarray]):
    """A float32 vector stored as raw little-endian bytes."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: np.ndarray | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return np.asarray(value, dtype="<f4").tobytes()

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> np.ndarray | None:
        if value is None:
            return None
        return np.frombuffer(value, dtype="<f4").astype(np.float32)
