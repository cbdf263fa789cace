"""Events ingested per tenant and UTC day (`EventIngestDay`), added to once per stored batch; the platform overview
reads these rows instead of counting the event table."""
from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDate

from ..models import Event, EventIngestDay

INGEST_DAY_SHARDS = 16


def _shard() -> int:
    """This connection's row of the day: batches of different processes (or threads) rarely share one, so they do
    not wait on each other's row lock."""
    return hash((os.getpid(), threading.get_ident())) % INGEST_DAY_SHARDS


def ingested_add(*, tenant, received_at: dt.datetime, count: int) -> None:
    """Adds `count` events received at `received_at` to the tenant's day (one of its shard rows): one upsert."""
    if count <= 0:
        return
    day = received_at.astimezone(dt.UTC).date()
    table = EventIngestDay._meta.db_table
    prep = EventIngestDay._meta.pk.get_db_prep_value
    sql = (f"INSERT INTO {table} (id, tenant_id, day, shard, count) VALUES (%s, %s, %s, %s, %s) "
           f"ON CONFLICT (tenant_id, day, shard) DO UPDATE SET count = {table}.count + EXCLUDED.count")
    with connection.cursor() as cursor:
        cursor.execute(sql, [prep(uuid.uuid4(), connection), prep(tenant.pk, connection),
                             connection.ops.adapt_datefield_value(day), _shard(), count])


def ingested_rebuild() -> int:
    """Recounts every tenant's days from the stored events (the backfill; after events were loaded around
    ingestion). The number of (tenant, day) rows."""
    rows = (Event.objects.unscoped().annotate(day=TruncDate("received_at", tzinfo=dt.UTC))
            .values("tenant_id", "day").annotate(n=Count("pk")).order_by())
    EventIngestDay.objects.unscoped().all().delete()
    created = EventIngestDay.objects.unscoped().bulk_create(
        [EventIngestDay(tenant_id=r["tenant_id"], day=r["day"], count=r["n"]) for r in rows], batch_size=2000)
    return len(created)
