"""Attribution journeys kept as events arrive (the `Journey` read model), so attribution reads journeys instead of
rebuilding them from raw events on every request.

A journey is a profile's touchpoints after its previous purchase up to its next purchase (a touchpoint at the very
moment of the purchase belongs to it), or, with no purchase yet, its open journey. A *touchpoint* is an event other
than a purchase that carries a `channel` (or `utm_source`) property; its campaign is `campaign` (or `utm_campaign`)
— the same definition as `analytics/attribution/journeys.py`'s raw-event query (the agreement is tested).

Ingestion calls `journeys_refresh` once per batch with, per touched profile, the earliest moment its events changed
(None: everything, e.g. a merge winner). One set-based statement for the whole batch, whatever it holds: it deletes
the profiles' journeys from their last purchase before that moment on and rebuilds them from the events after that
purchase (one window pass, one row per journey). A batch holds its profiles' rows locked (FOR NO KEY UPDATE) while it
writes, so two batches never rebuild one profile's journeys at once, and the second reads the first's events.

PostgreSQL only, and opt-in (`CDP_JOURNEYS_KEPT=1`, after `manage.py journeys_rebuild`): the statement re-reads each
touched profile's events since its last purchase, which measured 2.5× slower ingestion on the realistic mix and a
throughput that falls as journeys without a purchase grow (docs/performance.md). Off, attribution reads raw events.
"""
from __future__ import annotations

from django.conf import settings
from django.db import connection

from ..models import PURCHASE_EVENT, Event, Journey, Profile

PATH_SEP = "\x1e"  # between touchpoints of a path
KEY_SEP = "\x1f"  # between a touchpoint's channel and campaign
MAX_NAME = 120


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
    return settings.CDP_JOURNEYS_KEPT and connection.vendor == "postgresql"


def journeys_refresh(*, tenant, since: dict) -> None:
    """Rebuilds the journeys of these profiles ({profile id: earliest changed event time, or None for all of them})
    from their events: one statement for any number of profiles. Profiles without events end with no journeys."""
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
c AS MATERIALIZED (SELECT b.pid, (SELECT MAX(j.converted_at) FROM {table} j
                     WHERE j.tenant_id = %(tenant)s AND j.profile_id = b.pid AND j.converted_at < b.since) AS cut
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


def journeys_rebuild(*, tenant, chunk: int = 5000) -> int:
    """Rebuilds every journey of the tenant from its events (backfill, and after writes that bypass ingestion);
    the number of profiles walked. In chunks of profiles, one statement each."""
    if not journeys_enabled():
        return 0
    ids = list(Profile.objects.for_tenant(tenant).filter(merged_into__isnull=True).order_by("pk")
               .values_list("pk", flat=True))
    Journey.objects.for_tenant(tenant).filter(profile__merged_into__isnull=False).delete()
    for offset in range(0, len(ids), chunk):
        journeys_refresh(tenant=tenant, since=dict.fromkeys(ids[offset:offset + chunk]))
    return len(ids)


def since_of(pairs, *, everything=()) -> dict:
    """{profile id: earliest time} of (profile id, event time) pairs; profiles in `everything` map to None (all)."""
    out: dict = {}
    for pid, at in pairs:
        if pid not in out or at < out[pid]:
            out[pid] = at
    out.update(dict.fromkeys(everything))
    return out
