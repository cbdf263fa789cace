"""Attribution journeys (the `Journey` read model), kept beside ingestion so attribution reads journeys instead of
rebuilding them from raw events on every request.

A journey is a profile's touchpoints after its previous purchase up to its next purchase (a touchpoint at the very
moment of the purchase belongs to it), or, with no purchase yet, its open journey. A *touchpoint* is an event other
than a purchase that carries a `channel` (or `utm_source`) property; its campaign is `campaign` (or `utm_campaign`)
— the same definition as `analytics/attribution/journeys.py`'s raw-event query (the agreement is tested).

Out of the ingestion transaction: a batch only *marks* its profiles (`journeys_mark`: one INSERT of (profile,
earliest changed event time) rows into `JourneyMark`, committed with its events) and queues one debounced catch-up
per tenant. `journeys_catch_up` claims the tenant's marks (DELETE … RETURNING, under a per-tenant transaction
advisory lock) and rebuilds those profiles' journeys set-based (`journeys_refresh`: per profile, from its last
purchase before the change on). Late and out-of-order events only move the mark's time back; merges, unmerges,
erasure and retention mark the profiles whole (time null); a bulk load marks the tenant whole. So after any
interleaving the journeys equal a rebuild from raw events once the marks are folded — the catch-up runs from the
queued task, from beat's sweep, and synchronously before every attribution read (`journeys_read_prepare`: it folds
the small tail; a tenant-wide rebuild or a big backlog is left to the worker and that read uses the raw events).

PostgreSQL only; on SQLite nothing is marked and attribution reads raw events.
"""
from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from psycopg.errors import LockNotAvailable

from stratum.api.db import advisory_key, advisory_xact_locks, pg_array
from stratum.api.queueing import task_enqueue, tasks_have_a_broker

from ..models import PURCHASE_EVENT, Event, Journey, JourneyMark, Profile

logger = logging.getLogger("stratum.cdp")

PATH_SEP = "\x1e"  # between touchpoints of a path
KEY_SEP = "\x1f"  # between a touchpoint's channel and campaign
MAX_NAME = 120
CHUNK = 5000  # profiles per rebuild statement
READ_CATCH_UP_MAX = 20_000  # marks a read folds in itself; more (or a tenant-wide one): the read uses raw events
READ_LOCK_WAIT = 5.0  # seconds a read waits for a running catch-up before reading raw events instead
TASK_LOCK_WAIT = 120.0  # seconds the queued task waits for a running catch-up (a tenant's rebuild) before leaving
QUEUED_KEY = "cdp:journeys:queued:"
QUEUED_TTL = 600  # a queued catch-up lost (broker down) stops debouncing after this; beat sweeps meanwhile


def _sanitized(expression: str) -> str:
    return (f"SUBSTR(REPLACE(REPLACE(TRIM({expression}), %(path_sep)s, ''), %(key_sep)s, ''), 1, {MAX_NAME})")


def _touch_columns() -> tuple[str, str]:
    """The channel and campaign of an event `e` (channel null: not a touchpoint)."""
    def prop(key):
        return _sanitized(f"(e.properties ->> '{key}')")

    channel = f"COALESCE(NULLIF({prop('channel')}, ''), NULLIF({prop('utm_source')}, ''))"
    campaign = f"COALESCE(NULLIF({prop('campaign')}, ''), NULLIF({prop('utm_campaign')}, ''), '')"
    return channel, campaign


def journeys_enabled() -> bool:
    """Journeys are kept on PostgreSQL; elsewhere (SQLite) attribution reads raw events and nothing is marked."""
    return connection.vendor == "postgresql"


def journeys_mark(*, tenant, since: dict) -> None:
    """Marks these profiles' journeys stale ({profile id: earliest changed event time, or None for all of its
    events}): one INSERT, in the caller's transaction, whatever the number of profiles. `journeys_catch_up` folds
    the marks in."""
    if not since or not journeys_enabled():
        return
    ids = sorted(since, key=str)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {JourneyMark._meta.db_table} (id, tenant_id, profile_id, since) "
                       "SELECT gen_random_uuid(), %s, p, s FROM unnest(%s::uuid[], %s::timestamptz[]) AS m(p, s)",
                       [tenant.pk, pg_array(ids), pg_array([since[pid] for pid in ids])])


def journeys_mark_all(*, tenant) -> None:
    """Marks every journey of the tenant stale (after events were written around ingestion: a bulk load, a
    restore): the next catch-up rebuilds them all from the events."""
    if journeys_enabled():
        JourneyMark.objects.for_tenant(tenant).create(tenant=tenant, profile_id=None, since=None)


def journeys_catch_up_queue(*, tenant, by_sweep: bool = False) -> None:
    """After the caller's transaction commits, queues one catch-up of the tenant unless one is queued already (a
    cache key, cleared by the task as it starts). Best effort: beat's sweep and every attribution read catch up
    too. Without a broker the task would run inside the writing request, after its commit, making every batch wait
    on the tenant's catch-up lock; there only beat's sweep (`by_sweep`, which then runs it in beat) and the reads
    catch up."""
    if not journeys_enabled() or not (by_sweep or tasks_have_a_broker()):
        return
    tenant_id = str(tenant.pk)

    def queue() -> None:
        try:
            if not cache.add(f"{QUEUED_KEY}{tenant_id}", 1, timeout=QUEUED_TTL):
                return
        except Exception:  # noqa: BLE001 - the cache down: queue anyway (a catch-up with nothing to do is cheap)
            logger.warning("journeys catch-up debounce unavailable for tenant %s", tenant_id, exc_info=True)
        task_enqueue(name="cdp.tasks.journeys_catch_up_task", kwargs={"tenant_id": tenant_id}, on_commit=False,
                     best_effort=True)

    transaction.on_commit(queue)


def journeys_catch_up_queued(*, tenant) -> int:
    """The queued catch-up (the task): clears the debounce key first, so a change committed from now on queues
    another, then folds the marks in, waiting up to TASK_LOCK_WAIT for a run that holds the tenant (a rebuild); past
    that it leaves them to beat's next sweep. The number of profiles rebuilt."""
    try:
        cache.delete(f"{QUEUED_KEY}{tenant.pk}")
    except Exception:  # noqa: BLE001 - the key expires by itself
        logger.warning("journeys catch-up debounce unavailable for tenant %s", tenant.pk, exc_info=True)
    try:
        return journeys_catch_up(tenant=tenant, lock_timeout=TASK_LOCK_WAIT)
    except OperationalError as error:
        if not isinstance(error.__cause__, LockNotAvailable):
            raise
        logger.info("journeys catch-up of tenant %s busy elsewhere; beat sweeps again", tenant.pk)
        return 0


def journeys_catch_up(*, tenant, lock_timeout: float | None = None) -> int:
    """Folds the tenant's marks into its journeys; the number of profiles rebuilt. Set-based (one statement per
    5,000 profiles), idempotent, and safe under concurrent runs: a per-tenant transaction advisory lock serialises
    them (waiting up to `lock_timeout` seconds, then LockNotAvailable), and the marks are claimed with a DELETE in
    the same transaction, so a mark is folded exactly once and one committed after the claim waits for the next
    run. A tenant-wide mark rebuilds every live profile's journeys."""
    if not journeys_enabled():
        return 0
    table = JourneyMark._meta.db_table
    with transaction.atomic():
        advisory_xact_locks([advisory_key("cdp.journeys", tenant.pk)], timeout=lock_timeout)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s RETURNING profile_id, since", [tenant.pk])
            marks = cursor.fetchall()
        if not marks:
            return 0
        if any(pid is None for pid, _ in marks):
            return _rebuild_all(tenant)
        since: dict = {}
        for pid, at in marks:
            if pid not in since:
                since[pid] = at
            elif since[pid] is not None and (at is None or at < since[pid]):
                since[pid] = at
        ids = sorted(since, key=str)
        for offset in range(0, len(ids), CHUNK):
            journeys_refresh(tenant=tenant, since={pid: since[pid] for pid in ids[offset:offset + CHUNK]})
        return len(ids)


def journeys_marked_tenants() -> list:
    """Ids of the tenants with marks waiting (beat's sweep; across tenants by design: it only queues each its own
    catch-up)."""
    if not journeys_enabled():
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT tenant_id FROM {JourneyMark._meta.db_table}")
        return [row[0] for row in cursor.fetchall()]


def journeys_pending(*, tenant) -> tuple[int, bool]:
    """(marks waiting, whether one of them is tenant-wide): one indexed read on the primary."""
    if not journeys_enabled():
        return 0, False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), COALESCE(bool_or(profile_id IS NULL), false) "
                       f"FROM {JourneyMark._meta.db_table} WHERE tenant_id = %s", [tenant.pk])
        count, everything = cursor.fetchone()
    return count, everything


def journeys_read_prepare(*, tenant) -> bool:
    """Before an attribution read: True when the tenant's journeys are exact now (the pending tail folded in,
    synchronously); False when they are not and a read must use the raw events instead — a tenant-wide rebuild or
    more than READ_CATCH_UP_MAX marks pending (queued for the worker instead, so no request pays for a backfill), or
    another catch-up holding the tenant for longer than READ_LOCK_WAIT seconds."""
    if not journeys_enabled():
        return False
    count, everything = journeys_pending(tenant=tenant)
    if count == 0:
        return True
    if everything or count > READ_CATCH_UP_MAX:
        journeys_catch_up_queue(tenant=tenant)
        return False
    try:
        journeys_catch_up(tenant=tenant, lock_timeout=READ_LOCK_WAIT)  # its own savepoint: rolled back on a timeout
    except OperationalError as error:
        if not isinstance(error.__cause__, LockNotAvailable):
            raise
        return False
    return True


def journeys_refresh(*, tenant, since: dict) -> None:
    """Rebuilds the journeys of these profiles ({profile id: earliest changed event time, or None for all of them})
    from their events: one statement for any number of profiles. Profiles without events end with no journeys.
    Only under the tenant's catch-up lock (`journeys_catch_up`), which keeps two rebuilds of one profile apart."""
    if not since or not journeys_enabled():
        return
    table, events = Journey._meta.db_table, Event._meta.db_table
    ids = sorted(since, key=str)
    source = "b AS (SELECT * FROM unnest(%(pids)s::uuid[], %(since)s::timestamptz[]) AS b(pid, since))"
    args = {"pids": ids, "since": [since[pid] for pid in ids], "tenant": tenant.pk, "purchase": PURCHASE_EVENT,
            "path_sep": PATH_SEP, "key_sep": KEY_SEP}
    channel, campaign = _touch_columns()
    # One statement: the cut per profile (its last purchase before the change), the journeys after it deleted,
    # and those journeys rebuilt from the events after it. (The INSERT never reads the journey table: the DELETE's
    # rows and the new ones do not meet.)
    statement = f"""WITH {source},
c AS MATERIALIZED (SELECT b.pid, CASE WHEN b.since IS NOT NULL THEN
                       (SELECT MAX(j.converted_at) FROM {table} j
                        WHERE j.tenant_id = %(tenant)s AND j.profile_id = b.pid AND j.converted_at < b.since) END AS cut
      FROM b),
gone AS (DELETE FROM {table} j USING c
         WHERE j.tenant_id = %(tenant)s AND j.profile_id = c.pid
           AND (c.cut IS NULL OR j.converted_at IS NULL OR j.converted_at > c.cut)),
ev AS (SELECT e.profile_id AS pid, e.id, e.timestamp AS ts, EXTRACT(EPOCH FROM e.timestamp)::float8 AS ep,
              CASE WHEN e.event_type = %(purchase)s THEN 1 ELSE 0 END AS conv, COALESCE(e.revenue, 0) AS rev,
              {channel} AS ch, {campaign} AS cp
       FROM {events} e JOIN c ON e.profile_id = c.pid
       WHERE e.tenant_id = %(tenant)s AND (c.cut IS NULL OR e.timestamp > c.cut)),
s AS (SELECT pid, id, ts, ep, conv, rev, ch || %(key_sep)s || cp AS tkey,
             SUM(conv) OVER (PARTITION BY pid ORDER BY ep, conv, id ROWS UNBOUNDED PRECEDING) - conv AS jseq
      FROM ev WHERE conv = 1 OR ch IS NOT NULL)
INSERT INTO {table} (id, tenant_id, profile_id, converted_at, revenue, path, touch_count, first_touch, last_touch,
                     touch_times)
SELECT gen_random_uuid(), %(tenant)s, pid, MAX(CASE WHEN conv = 1 THEN ts END),
       COALESCE(SUM(CASE WHEN conv = 1 THEN rev END), 0),
       string_agg(CASE WHEN conv = 0 THEN tkey END, %(path_sep)s ORDER BY ep, id),
       SUM(1 - conv), MIN(CASE WHEN conv = 0 THEN ep END), MAX(CASE WHEN conv = 0 THEN ep END),
       COALESCE(array_agg(ep ORDER BY ep, id) FILTER (WHERE conv = 0), '{{}}')::text
FROM s GROUP BY pid, jseq"""
    with connection.cursor() as cursor:
        cursor.execute(statement, args)


def _rebuild_all(tenant) -> int:
    """Every live profile's journeys from its events (all of them: no per-profile cut is looked up), then fresh
    planner statistics for the table it rewrote — a catch-up's per-profile cut lookups planned on the statistics of
    an empty table scanned the tenant's whole journey table once per profile (measured: minutes per 5,000)."""
    ids = list(Profile.objects.for_tenant(tenant).filter(merged_into__isnull=True).order_by("pk")
               .values_list("pk", flat=True))
    Journey.objects.for_tenant(tenant).delete()
    for offset in range(0, len(ids), CHUNK):
        journeys_refresh(tenant=tenant, since=dict.fromkeys(ids[offset:offset + CHUNK]))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Journey._meta.db_table}")
    return len(ids)


def journeys_rebuild(*, tenant) -> int:
    """Rebuilds every journey of the tenant from its events now (`manage.py journeys_rebuild`, a bulk load); the
    number of profiles walked. The tenant-wide mark and a catch-up: the same lock and path as any other."""
    if not journeys_enabled():
        return 0
    with transaction.atomic():
        journeys_mark_all(tenant=tenant)
        return journeys_catch_up(tenant=tenant)


def since_of(pairs, *, everything=()) -> dict:
    """{profile id: earliest time} of (profile id, event time) pairs; profiles in `everything` map to None (all)."""
    out: dict = {}
    for pid, at in pairs:
        if pid not in out or at < out[pid]:
            out[pid] = at
    out.update(dict.fromkeys(everything))
    return out
