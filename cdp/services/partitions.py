"""Monthly partitions of the events table on PostgreSQL (cdp/partitioning.py has the layout): created ahead by a
daily task, and dropped whole once every row in them is past every tenant's retention. SQLite (one plain table): no-ops.

Retention is per tenant (its privacy setting, bounded by its plan's max_event_retention_days) while a partition holds
every tenant's events of its month: a partition goes when its month ended before the longest retention of any tenant
began. The nightly per-tenant retention (`events_retention_apply`) still deletes the rows of tenants with a shorter one.
"""
from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Tenant
from stratum.api.db import lock_timeout_set
from stratum.api.tenancy import tenant_scope

from .. import partitioning
from .privacy import privacy_settings_get

logger = logging.getLogger("stratum.cdp")


def events_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        return partitioning.is_partitioned(cursor)


def event_partitions_list() -> list[dt.date]:
    """The months that have a partition (empty on SQLite)."""
    if not events_partitioned():
        return []
    with connection.cursor() as cursor:
        return partitioning.month_partitions(cursor)


def event_partitions_ensure(*, now: dt.datetime | None = None, ahead: int | None = None) -> list[str]:
    """Creates the partitions of the current month and the `ahead` (CDP_EVENT_PARTITIONS_AHEAD) following ones that
    are missing; returns their names. Idempotent. Events are accepted at most a day ahead, so a month gets its
    partition long before its first row."""
    if not events_partitioned():
        return []
    ahead = settings.CDP_EVENT_PARTITIONS_AHEAD if ahead is None else ahead
    current = partitioning.month_start(now or timezone.now())
    created = []
    for offset in range(ahead + 1):
        month = partitioning.month_add(current, offset)
        with transaction.atomic(), connection.cursor() as cursor:
            lock_timeout_set(5)  # DDL waits for the ingests under way, and new ones queue behind it: briefly
            if partitioning.partition_create(cursor, month):
                created.append(partitioning.partition_name(month))
    if created:
        logger.info("event partitions created: %s", ", ".join(created))
    return created


def events_retention_horizon(*, now: dt.datetime | None = None) -> dt.datetime | None:
    """The moment before which no tenant keeps raw events: now minus the longest effective retention of any tenant;
    None while some tenant keeps them for ever (no retention) or there is no tenant."""
    longest = 0
    for tenant in Tenant.objects.all().iterator():
        with tenant_scope(tenant):
            days = privacy_settings_get(tenant=tenant)["effective_event_retention_days"]
        if not days:
            return None
        longest = max(longest, days)
    if not longest:
        return None
    return (now or timezone.now()) - dt.timedelta(days=longest)


def event_partitions_drop_expired(*, now: dt.datetime | None = None) -> list[str]:
    """Drops every monthly partition whose month ended before the retention horizon (all its rows are past every
    tenant's retention); returns their names. The DEFAULT partition is never dropped."""
    if not events_partitioned():
        return []
    horizon = events_retention_horizon(now=now)
    if horizon is None:
        return []
    dropped = []
    for month in event_partitions_list():
        end = partitioning.month_add(month, 1)
        if dt.datetime(end.year, end.month, 1, tzinfo=dt.UTC) > horizon:
            break
        with transaction.atomic(), connection.cursor() as cursor:
            lock_timeout_set(5)  # DDL waits for the ingests under way, and new ones queue behind it: briefly
            if partitioning.partition_drop(cursor, month):
                dropped.append(partitioning.partition_name(month))
    if dropped:
        logger.info("event partitions past retention dropped: %s", ", ".join(dropped))
    return dropped


def event_partitions_maintain(*, now: dt.datetime | None = None) -> dict:
    """The daily job: partitions ahead created, partitions past retention dropped."""
    return {"created": event_partitions_ensure(now=now), "dropped": event_partitions_drop_expired(now=now)}
