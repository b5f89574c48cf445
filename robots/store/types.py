"""What every aggregate of the store shares: the column types, the metadata its tables live on, and the dialect's
INSERT helpers.

Money is stored as integer kopecks (:class:`Money`): exact on SQLite too, whose NUMERIC goes through float. Each
aggregate module defines its tables on :data:`metadata`; :mod:`robots.store.schema` imports them all, so that the
metadata Alembic compares against is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, overload

from sqlalchemy import BigInteger, Connection, CursorResult, DateTime, Engine, Executable, MetaData, String, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """A Decimal amount with at most two decimals, stored as integer minor units (kopecks)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        if value is None:
            return None
        cents = value * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"amount {value} has more than two decimals")
        return int(cents)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        return None if value is None else (Decimal(value) / 100).quantize(CENT)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal of any scale (rates), stored as its exact text."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = MetaData()
TS = DateTime(timezone=True)


@overload
def utc(ts: datetime) -> datetime: ...


@overload
def utc(ts: None) -> None: ...


@overload
def utc(ts: datetime | None) -> datetime | None: ...


def utc(ts: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; everything we store is UTC."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class Database(Protocol):
    """What an aggregate's functions use of the store (:class:`robots.store.Store` is one): its engine, and one
    short read of rows or of a single value, each on its own connection."""

    engine: Engine

    def rows(self, query: Executable) -> list[Any]: ...

    def scalar(self, query: Executable) -> Any: ...


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the one row an INSERT added (SQLAlchemy always has it for a single-row INSERT)."""
    key = result.inserted_primary_key
    assert key is not None
    return key[0]


def dialect_insert(engine: Engine) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def insert_once(engine: Engine, table: Any, values: dict[str, Any]) -> None:
    """Insert unless the row's unique key exists already (a step re-executed after a crash)."""
    with engine.begin() as conn:
        conn.execute(dialect_insert(engine)(table).values(**values).on_conflict_do_nothing())


def bulk_insert(conn: Connection, table: Any, rows: Sequence[dict[str, Any]], chunk: int = 20_000) -> None:
    """Insert many rows in executemany batches of ``chunk``."""
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), rows[start:start + chunk])


__all__ = ["CENT", "TS", "Database", "ExactDecimal", "Money", "bulk_insert", "dialect_insert", "insert_once",
           "metadata", "utc"]
