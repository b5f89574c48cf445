"""Column helpers for the BI tables: exact money from kopecks, date keys, driver values to Arrow, lookups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bi.schema import DATE, DATE_KEY, MONEY, TIMESTAMP, Table

_HUNDRED = Decimal(100)


def money_from_kopecks(kopecks: Sequence[int | None] | np.ndarray | pa.Array) -> pa.Array:
    """Integer kopecks as decimal(18,2) rubles, exactly: a decimal128 is its unscaled integer (here: kopecks)."""
    if isinstance(kopecks, np.ndarray):
        values, validity, nulls = kopecks.astype(np.int64, copy=False), None, 0
    else:
        arr = (kopecks if isinstance(kopecks, pa.Array) else pa.array(kopecks, pa.int64())).cast(pa.int64())
        nulls = arr.null_count
        validity = pc.is_valid(arr).buffers()[1] if nulls else None  # a fresh bitmap, offset 0
        values = int64_values(arr.fill_null(0) if nulls else arr)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values  # low 64 bits (little-endian)
    words[:, 1] = values >> 63  # the sign, extended into the high 64 bits
    return pa.Array.from_buffers(MONEY, len(values), [validity, pa.py_buffer(words)], null_count=nulls)


def kopecks_of(money: pa.Array) -> np.ndarray:
    """decimal(18,2) values (no nulls) as integer kopecks: a decimal128 is its unscaled integer, and one of at most
    18 digits is its low 64-bit word."""
    if len(money) == 0:
        return np.zeros(0, np.int64)
    words = np.frombuffer(money.buffers()[1], np.int64, count=2 * (money.offset + len(money)))
    return words[2 * money.offset::2].copy()


def int64_values(arr: pa.Array) -> np.ndarray:
    """The values of an int64 array without nulls, as numpy (no copy, no pandas)."""
    if len(arr) == 0:
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr), offset=arr.offset * 8)


def kopecks(amount: Decimal) -> int:
    """Rubles with at most two decimals as integer kopecks; refuses anything finer (it would not be exact)."""
    k = amount * _HUNDRED
    if k != k.to_integral_value():
        raise ValueError(f"amount {amount} has more than two decimals")
    return int(k)


def money(amounts: Sequence[Decimal | None]) -> pa.Array:
    return money_from_kopecks([None if a is None else kopecks(a) for a in amounts])


def date_keys(dates: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """YYYYMMDD integers of a date column (null stays null)."""
    key = pc.add(pc.add(pc.multiply(pc.year(dates), 10_000), pc.multiply(pc.month(dates), 100)), pc.day(dates))
    return key.cast(DATE_KEY)


def day_key(d: date) -> int:
    return d.year * 10_000 + d.month * 100 + d.day


def dates(values: Sequence[Any] | pa.Array) -> pa.Array:
    """Dates as the drivers return them (ISO text from SQLite, ``date`` from PostgreSQL) as date32."""
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), DATE)
    return arr.cast(DATE)


def timestamps(values: Sequence[Any] | pa.Array, *, with_offset: bool = False) -> pa.Array:
    """Timestamps as the drivers return them, in UTC. SQLite keeps naive text, which the store writes in UTC;
    ``with_offset`` text (ISO 8601 with a zone, as in JSON) is converted to UTC."""
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), TIMESTAMP)
    if pa.types.is_string(arr.type):
        if with_offset:
            return arr.cast(TIMESTAMP)
        return arr.cast(pa.timestamp("us")).cast(TIMESTAMP)  # naive values are taken as UTC
    if pa.types.is_timestamp(arr.type) and arr.type.tz is None:
        return arr.cast(pa.timestamp("us")).cast(TIMESTAMP)
    return arr.cast(TIMESTAMP)  # aware datetimes (PostgreSQL): Arrow keeps them as UTC instants


def lookup(keys: pa.Array | pa.ChunkedArray, mapping: Mapping[str, str]) -> pa.Array:
    """``mapping[key]`` for each key (null where the key is unknown), vectorised."""
    index = pc.index_in(keys, value_set=pa.array(list(mapping.keys()), pa.string()))
    return pa.array(list(mapping.values()), pa.string()).take(index)


def column_keys(groups: pa.Array | pa.ChunkedArray, column_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``group/column_id`` (null when either is null)."""
    return pc.binary_join_element_wise(groups, column_ids, "/", null_handling="emit_null")


def table(definition: Table, columns: Mapping[str, Any]) -> pa.Table:
    """An Arrow table in the definition's column order and types; refuses missing or unexpected columns."""
    names = definition.column_names
    if set(columns) != set(names):
        raise ValueError(f"{definition.name}: columns {sorted(set(columns) ^ set(names))} do not match the schema")
    arrays = []
    for col in definition.columns:
        values = columns[col.name]
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        arr = values if isinstance(values, pa.Array) else pa.array(values, col.type)
        if arr.type != col.type:
            arr = arr.cast(col.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=definition.schema)
