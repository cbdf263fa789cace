"""Database concurrency plumbing every app may use: transactions retried on deadlocks and serialization failures,
bounded lock waits, transaction-scoped advisory locks taken in one global order, and the classification of the
database errors that reach a client (a lock that waited too long is a 503 with `Retry-After`, never "the database is
unavailable").

PostgreSQL reports a deadlock (40P01) or a serialization failure (40001) to one of the transactions involved, which
rolls back; run again, it succeeds. `atomic_retry` does that inside the server, a bounded number of times with
jittered back-off, so the client never sees it. SQLite serialises writers (`BEGIN IMMEDIATE`), so neither happens
there; its "database is locked" after the busy timeout is the same kind of answer as a lock timeout.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Lookup
from psycopg.types.json import Jsonb

logger = logging.getLogger("stratum.api")
T = TypeVar("T")

DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired
RETRYABLE_STATES = frozenset({DEADLOCK_DETECTED, SERIALIZATION_FAILURE})

# How long a request waits for a row or advisory lock before it gives up with a 503 (seconds).
DEFAULT_LOCK_TIMEOUT = 10
RETRY_AFTER_SECONDS = 1


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg 3 `sqlstate`, psycopg 2 `pgcode`), following the wrapped cause."""
    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if code:
            return code
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, DatabaseError) and sqlstate(exc) in RETRYABLE_STATES


def busy_reason(exc: BaseException) -> str | None:
    """Why the database refused for now — a lock wait that timed out, a conflict still failing after the retries,
    SQLite's writer lock — or None when the error is something else (the database really unavailable)."""
    if not isinstance(exc, DatabaseError):
        return None
    state = sqlstate(exc)
    if state == LOCK_NOT_AVAILABLE:
        return ("Another request is changing the same records and held their locks longer than this request may "
                "wait. Nothing was written; retry shortly.")
    if state in RETRYABLE_STATES:
        return ("Concurrent requests kept conflicting on the same records (deadlock or serialization failure, "
                "retried in the server). Nothing was written; retry shortly.")
    if isinstance(exc, OperationalError) and "database is locked" in str(exc):
        return "Another write holds the database (SQLite allows one writer). Nothing was written; retry shortly."
    return None


def atomic_retry(fn: Callable[[], T], *, attempts: int = 5, integrity_attempts: int = 0,
                 base_delay: float = 0.02, max_delay: float = 0.5, budget: float | None = None) -> T:
    """Runs `fn()` in `transaction.atomic()`; a deadlock or serialization failure rolls it back and runs it again
    (at most `attempts` times in all, after a jittered exponential pause). `integrity_attempts` also retries that many
    IntegrityErrors (a concurrent insert of the same unique key, which the next attempt reads instead of inserting).

    `budget` (seconds) stops retrying once that much time has passed since the first attempt, so lock waits and
    retries together stay within a request's time. `fn` must be safe to run again: everything it wrote was rolled
    back. Inside an outer transaction the retry runs
    in a savepoint (the outer transaction keeps its locks, so a retry there may lose again: the bound holds)."""
    integrity_left = integrity_attempts
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                return fn()
        except IntegrityError:
            if integrity_left <= 0:
                raise
            integrity_left -= 1
            logger.info("integrity conflict, attempt %d: retrying", attempt)
        except DatabaseError as exc:
            if not is_retryable(exc) or attempt == attempts or (
                    budget is not None and time.monotonic() - started > budget):
                raise
            logger.info("%s on attempt %d: retrying", sqlstate(exc), attempt)
        delay = min(max_delay, base_delay * (2 ** (attempt - 1)))
        time.sleep(delay * (0.5 + random.random()))
    raise AssertionError("unreachable")


def lock_timeout_set(seconds: float | None = None) -> None:
    """Bounds every lock wait of the current transaction (PostgreSQL; SQLite has its busy timeout)."""
    seconds = DEFAULT_LOCK_TIMEOUT if seconds is None else seconds
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(seconds * 1000)}ms"])


def advisory_key(*parts: object) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock from the given parts (a stable hash, same in every process)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def advisory_xact_locks(keys: Iterable[int], *, timeout: float | None = None) -> None:
    """Takes transaction-scoped advisory locks on `keys` in ascending order (one global order: two transactions
    locking overlapping sets cannot deadlock on them), in one round trip, with a bounded wait. Released at commit or
    rollback. The lock_timeout it sets bounds the transaction's later row-lock waits too (also with no keys). A
    no-op off PostgreSQL (SQLite serialises writers)."""
    ordered = sorted(set(keys))
    if connection.vendor != "postgresql":
        return
    timeout = DEFAULT_LOCK_TIMEOUT if timeout is None else timeout
    with connection.cursor() as cursor:
        # unnest yields the array in order and the aggregate consumes the rows in that order.
        cursor.execute("SELECT set_config('lock_timeout', %s, true), "
                       "(SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k)",
                       [f"{int(timeout * 1000)}ms", pg_array(ordered)])


class AnyOf(Lookup):
    """`field__any=[…]`: membership in a list passed as ONE array parameter on PostgreSQL (`field = ANY(%s)`), an
    `IN (…)` elsewhere. psycopg's client-side binding scans the statement text once per placeholder, so an `__in` of
    1,000 ids spent more time composing the query than PostgreSQL spent running it; the hot ingestion path uses this
    instead. Registered on every field by the kernel's app config."""

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=False) for value in self.rhs]
        if connection.vendor == "postgresql":
            # One array literal (pg_array), which PostgreSQL reads as an array of the column's type.
            plain = all(type(value) in _ELEMENT or type(value) is str for value in values)
            return f"{lhs} = ANY(%s)", [*lhs_params, pg_array(values) if plain else values]
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def _quoted(value) -> str:
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ELEMENT = {
    uuid.UUID: lambda value: f"{value.int:032x}",  # 32 hex digits: what uuid_in reads, faster than str()
    int: str,
    Decimal: str,
    bool: lambda value: "t" if value else "f",
    dt.datetime: lambda value: value.isoformat(),  # no space or comma: needs no quotes
    dt.date: lambda value: value.isoformat(),
}


def pg_array(values: Iterable) -> str:
    """A PostgreSQL array literal of `values` (None is NULL; anything else not listed above goes in quoted as its
    text), bound as ONE text parameter and cast in SQL (`%s::uuid[]`). psycopg's client-side binding quotes a list
    element by element in Python: 12 ms for 1,000 ids, 23 ms for 1,000 timestamps, a sizeable part of an ingestion
    batch; this takes well under a millisecond for ids and numbers."""
    element = _ELEMENT.get
    return "{" + ",".join("NULL" if value is None else (element(type(value)) or _quoted)(value)
                          for value in values) + "}"


def rows_source(name: str, columns: list[tuple[str, str]], rows: list[list]) -> tuple[str, list]:
    """`name(col, …) AS (…)` for a WITH clause over `rows`, the SQL and its parameters. PostgreSQL: one typed array
    per column through `unnest` (a handful of parameters whatever the row count; see AnyOf); elsewhere a VALUES list.
    `columns` are (name, PostgreSQL type); values must already be in their database form."""
    names = ", ".join(column for column, _ in columns)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        params = [pg_array([row[i] for row in rows]) for i in range(len(columns))]
        return f"{name}({names}) AS (SELECT * FROM unnest({arrays}))", params
    placeholder = f"({', '.join(['%s'] * len(columns))})"
    return (f"{name}({names}) AS (VALUES {', '.join([placeholder] * len(rows))})",
            [value for row in rows for value in row])


def rows_copy(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Inserts `rows` — plain tuples in `columns` order (field or attribute names; ids and timestamps set by the
    caller) — with COPY on PostgreSQL, one prepared INSERT per row elsewhere. Fields not named get their (constant)
    model default. For hot paths: building a model instance and preparing every field costs more than the insert."""
    if not rows:
        return
    meta = model._meta
    given = [meta.get_field(name) for name in columns]
    rest = [f for f in meta.concrete_fields if f not in given]
    defaults = tuple(f.get_default() for f in rest)
    fields = given + rest
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    if connection.vendor == "postgresql":
        json_at = [i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
        with connection.cursor() as cursor, connection.wrap_database_errors:
            with cursor.cursor.copy(f"COPY {meta.db_table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    row = (*row, *defaults)
                    if json_at:
                        row = tuple(Jsonb(v) if i in json_at and v is not None else v for i, v in enumerate(row))
                    copy.write_row(row)
        return
    sql = f"INSERT INTO {meta.db_table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"
    prepared = [[f.get_db_prep_save(value, connection) for f, value in zip(fields, (*row, *defaults), strict=True)]
                for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def field_converters(fields, connection_=None) -> list[tuple[object, list]]:
    """For raw SQL that selects model columns: each field's database converters (what the ORM applies to a column:
    the backend's, then the field's `from_db_value`), to be applied by `values_convert`. Build once per process."""
    connection_ = connection_ or connection
    out = []
    for field in fields:
        column = field.get_col(field.model._meta.db_table)
        out.append((column, connection_.ops.get_db_converters(column) + field.get_db_converters(connection_)))
    return out


def values_convert(values, converters, connection_=None) -> list:
    """A raw row's model columns as the ORM would give them (see `field_converters`)."""
    connection_ = connection_ or connection
    converted = []
    for value, (column, functions) in zip(values, converters, strict=True):
        for function in functions:
            value = function(value, column, connection_)
        converted.append(value)
    return converted


# `stratum.api.serializers.datetime_text`'s format (REST_FRAMEWORK["DATETIME_FORMAT"], in UTC) in PostgreSQL's to_char.
_PG_DATETIME_TEXT = {"%Y-%m-%dT%H:%M:%S.%fZ": 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'}


def datetime_text_sql(column: str, connection_=None) -> str | None:
    """SQL that reads a timestamp column as the API writes it (`datetime_text`), for lists made from plain rows:
    parsing each timestamp into an aware datetime and formatting it again cost a page more than its query. None
    where the database cannot (the caller formats in Python)."""
    from rest_framework.settings import api_settings

    connection_ = connection_ or connection
    pattern = _PG_DATETIME_TEXT.get(api_settings.DATETIME_FORMAT)
    if connection_.vendor != "postgresql" or pattern is None:
        return None
    return f"to_char({column} AT TIME ZONE 'UTC', '{pattern}')"
