"""The few SQL spellings that differ between PostgreSQL (production) and SQLite (development, tests).

Analytics queries are hand-written window-function SQL; everything else in them is portable.
"""
from __future__ import annotations

import datetime as dt

from django.db import connection

from cdp.models import Event
from stratum.api.replicas import read_connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def epoch(column: str) -> str:
    """Seconds since 1970 of a timestamp column, as a float."""
    if is_postgres():
        return f"EXTRACT(EPOCH FROM {column})::float8"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def json_text(column: str, key: str) -> str:
    """The text of a top-level JSON key (`key` is a constant of ours, never user input)."""
    if not key.replace("_", "").isalnum():
        raise ValueError(key)
    if is_postgres():
        return f"({column} ->> '{key}')"
    return f"CAST(json_extract({column}, '$.{key}') AS TEXT)"


def ordered_concat(expression: str, separator_param: str = "%s") -> str:
    """An aggregate that concatenates in the window's frame order (used with OVER (... ORDER BY ...))."""
    if is_postgres():
        return f"string_agg({expression}, {separator_param})"
    return f"group_concat({expression}, {separator_param})"


def param_tenant(tenant) -> object:
    return Event._meta.get_field("tenant").get_db_prep_value(tenant.pk, connection)


def param_datetime(moment: dt.datetime) -> object:
    return connection.ops.adapt_datetimefield_value(moment)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def fetch(sql: str, params: list) -> list[tuple]:
    """Runs a read query — on a replica inside `replica_reads()` (stratum.api.replicas), else on the primary."""
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
