"""The events table's layout on PostgreSQL: declaratively partitioned by month of `timestamp` (UTC), plus a DEFAULT
partition for what no month holds (backfills older than the first month). Plain SQL on a cursor, shared by migration
0012 (which converts an existing table, rows included, and back) and the partition services.

PostgreSQL requires the partition key in every unique constraint: the primary key is (id, timestamp) and the
message-id constraint (tenant_id, message_id, timestamp) — ingestion serialises equal message ids with advisory locks
instead (cdp/services/ingest.py). Django still sees `id` as the primary key; nothing references an event by FK.
SQLite keeps one plain table.
"""
from __future__ import annotations

import datetime as dt
import re

TABLE = "cdp_event"
DEFAULT_PARTITION = "cdp_event_default"
MONTH_NAME = re.compile(r"^cdp_event_y(\d{4})m(\d{2})$")


def month_start(moment: dt.date | dt.datetime) -> dt.date:
    return dt.date(moment.year, moment.month, 1)


def month_add(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(month: dt.date) -> str:
    return f"cdp_event_y{month:%Y}m{month:%m}"


def partition_month(name: str) -> dt.date | None:
    found = MONTH_NAME.match(name)
    return dt.date(int(found[1]), int(found[2]), 1) if found else None


def _bound(month: dt.date) -> str:
    return f"{month:%Y-%m-%d} 00:00:00+00"


def is_partitioned(cursor) -> bool:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
    row = cursor.fetchone()
    return row is not None and row[0] == "p"


def month_partitions(cursor) -> list[dt.date]:
    """The months that have a partition, in order."""
    cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                   "WHERE i.inhparent = to_regclass(%s)", [TABLE])
    return sorted(month for (name,) in cursor.fetchall() if (month := partition_month(name)) is not None)


def partition_create(cursor, month: dt.date) -> bool:
    """Creates `month`'s partition if missing (False when it exists). Rows of that month already in the DEFAULT
    partition (a backfill arrived before the month had one) are moved into it: the default is detached meanwhile, as
    PostgreSQL refuses a new partition whose rows sit in the default. Run inside a transaction."""
    name = partition_name(month)
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    if cursor.fetchone()[0]:
        return False
    start, end = _bound(month), _bound(month_add(month, 1))
    cursor.execute(f'SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE "timestamp" >= %s AND "timestamp" < %s)',
                   [start, end])
    if not cursor.fetchone()[0]:
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM ('{start}') TO ('{end}')")
        return True
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # DDL refuses a table with deferred FK checks still pending
    cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {DEFAULT_PARTITION}")
    cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM ('{start}') TO ('{end}')")
    cursor.execute(f'WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE "timestamp" >= %s AND "timestamp" < %s '
                   f"RETURNING *) INSERT INTO {TABLE} SELECT * FROM moved", [start, end])
    cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {DEFAULT_PARTITION} DEFAULT")
    return True


def partition_drop(cursor, month: dt.date) -> bool:
    name = partition_name(month)
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    if not cursor.fetchone()[0]:
        return False
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # DDL refuses a table with deferred FK checks still pending
    cursor.execute(f"DROP TABLE {name}")
    return True


def _layout(cursor) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """The table's constraints (name, type, definition) and its other indexes (name, definition)."""
    cursor.execute("SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = to_regclass(%s) ORDER BY conname", [TABLE])
    constraints = cursor.fetchall()
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
                   "ORDER BY indexname", [TABLE])
    owned = {name for name, _, _ in constraints}
    return constraints, [(name, sql) for name, sql in cursor.fetchall() if name not in owned]


def _rebuild(cursor, *, partitioned: bool, first: dt.date, last: dt.date) -> None:
    constraints, indexes = _layout(cursor)
    cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    new = f"{TABLE}_rebuilt"
    by = ' PARTITION BY RANGE ("timestamp")' if partitioned else ""
    cursor.execute(f"CREATE TABLE {new} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE){by}")
    if partitioned:
        month = first
        while month <= last:
            start, end = _bound(month), _bound(month_add(month, 1))
            cursor.execute(f"CREATE TABLE {partition_name(month)} PARTITION OF {new} "
                           f"FOR VALUES FROM ('{start}') TO ('{end}')")
            month = month_add(month, 1)
        cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {new} DEFAULT")
    cursor.execute(f"INSERT INTO {new} SELECT * FROM {TABLE}")
    cursor.execute(f"DROP TABLE {TABLE}")  # with its partitions when going back; nothing references it
    cursor.execute(f"ALTER TABLE {new} RENAME TO {TABLE}")
    for name, kind, definition in constraints:
        if kind in ("p", "u"):  # the partition key joins (or leaves) every unique key
            columns = [c.strip() for c in definition[definition.index("(") + 1:definition.rindex(")")].split(",")]
            columns = [c for c in columns if c != '"timestamp"'] + (['"timestamp"'] if partitioned else [])
            definition = f"{'PRIMARY KEY' if kind == 'p' else 'UNIQUE'} ({', '.join(columns)})"
        cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    for _, sql in indexes:
        cursor.execute(sql)
    cursor.execute(f"ANALYZE {TABLE}")


def _span(cursor, *, ahead: int, back: int, today: dt.date) -> tuple[dt.date, dt.date]:
    cursor.execute(f"""SELECT min("timestamp" AT TIME ZONE 'UTC'), max("timestamp" AT TIME ZONE 'UTC') FROM {TABLE}""")
    low, high = cursor.fetchone()
    current = month_start(today)
    first = month_add(current, -back)
    first = month_start(low) if low is not None and month_start(low) < first else first
    last = month_add(max(current, month_start(high)) if high is not None else current, ahead)
    return first, last


def table_partition(cursor, *, ahead: int, back: int, today: dt.date) -> None:
    """The plain table becomes a partitioned one — a partition per month from its oldest row's month (at least `back`
    months before the current one: recent backfills) to `ahead` months past the current (or its newest row's) month,
    and the DEFAULT — with every row, constraint and index."""
    if is_partitioned(cursor):
        return
    first, last = _span(cursor, ahead=ahead, back=back, today=today)
    _rebuild(cursor, partitioned=True, first=first, last=last)


def table_unpartition(cursor) -> None:
    """Back to one plain table (the reverse of `table_partition`)."""
    if not is_partitioned(cursor):
        return
    today = dt.date.today()
    _rebuild(cursor, partitioned=False, first=today, last=today)
