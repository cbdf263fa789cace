"""Customer journeys from CDP events, aggregated to distinct paths in one SQL statement.

A *touchpoint* is an event that carries a `channel` (or, failing that, a `utm_source`) property and is not a
conversion; its campaign is the `campaign` (or `utm_campaign`) property. A *conversion* is an event of one of the
conversion event types (default `purchase`); its value is the event's revenue.

Journeys, per profile, in time order (ties: touchpoints before the conversion):
- a converting journey is a conversion in the period with the profile's touchpoints after its previous conversion
  and at most `lookback` before it (none: the conversion is `direct`);
- a non-converting journey is a profile's touchpoints in the period after its last conversion.

SQL assigns every event its journey with two window passes (journey number = conversions before it + 1; the
journey's conversion time), builds each journey's path with an ordered string aggregate over the journey, and
groups by path. Python receives one row per distinct path (and, for time decay, per path position), so the
cost after the query grows with distinct paths, not with events.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from cdp.models import PURCHASE_EVENT, Event, Journey
from cdp.services.journeys import KEY_SEP, MAX_NAME, PATH_SEP, journeys_read_prepare

from .. import sql

DIRECT = "direct"
MAX_PATH_TOUCHES = 50  # longer journeys keep their last 50 touchpoints
EPSILON = 4e-7  # seconds: below a microsecond, above the rounding of epoch seconds as float8 (2.4e-7 near 2026)


@dataclass
class Journeys:
    """Distinct paths with their outcomes. A path is a tuple of touchpoint ids (`touchpoints[i]` = (channel,
    campaign)); `decay[p]` / `decay_revenue[p]` hold, per position of path p, the summed time-decay credit of
    its converting journeys (present when a half-life was given)."""

    touchpoints: list[tuple[str, str]] = field(default_factory=list)
    paths: list[tuple[int, ...]] = field(default_factory=list)
    conversions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nulls: np.ndarray = field(default_factory=lambda: np.zeros(0))
    revenue: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decay: list[np.ndarray] | None = None
    decay_revenue: list[np.ndarray] | None = None

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_revenue(self) -> float:
        return float(self.revenue.sum())

    @property
    def total_journeys(self) -> float:
        return float(self.conversions.sum() + self.nulls.sum())

    def channel_index(self) -> tuple[list[str], np.ndarray]:
        """Channel names (sorted) and, per touchpoint id, its channel's index."""
        channels = sorted({channel for channel, _ in self.touchpoints})
        index = {name: i for i, name in enumerate(channels)}
        return channels, np.array([index[channel] for channel, _ in self.touchpoints], dtype=np.int64)


def _sanitized(expression: str) -> str:
    return f"SUBSTR(REPLACE(REPLACE(TRIM({expression}), %s, ''), %s, ''), 1, {MAX_NAME})"


def _query(*, with_decay: bool, conversion_events: list[str]) -> str:
    props = "e.properties"
    channel = (f"COALESCE(NULLIF({_sanitized(sql.json_text(props, 'channel'))}, ''), "
               f"NULLIF({_sanitized(sql.json_text(props, 'utm_source'))}, ''))")
    campaign = (f"COALESCE(NULLIF({_sanitized(sql.json_text(props, 'campaign'))}, ''), "
                f"NULLIF({_sanitized(sql.json_text(props, 'utm_campaign'))}, ''), '')")
    is_conv = f"e.event_type IN ({', '.join(['%s'] * len(conversion_events))})"
    journey = "PARTITION BY pid, jseq"
    ordered = f"{journey} ORDER BY ep, conv"
    whole = f"{ordered} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
    decay_cols = ""
    decay_select = ""
    if with_decay:
        weight = "CASE WHEN conv = 0 AND conv_ep IS NOT NULL THEN EXP(-(conv_ep - ep) * %s) END"
        decay_cols = (f", {weight} / SUM({weight}) OVER ({journey}) AS credit, "
                      f"MAX(rev) OVER ({journey}) AS jrev")
        decay_select = """
UNION ALL
SELECT 'd', path, pos, COUNT(*), 0, 0, SUM(credit), SUM(credit * jrev) FROM p
WHERE conv = 0 AND conv_ep IS NOT NULL AND pos > ntouch - %s GROUP BY path, pos"""
    text = f"""
WITH ev AS (
  SELECT e.profile_id AS pid, {sql.epoch('e.timestamp')} AS ep,
         CASE WHEN {is_conv} THEN 1 ELSE 0 END AS conv,
         CASE WHEN {is_conv} THEN COALESCE(e.revenue, 0) ELSE 0 END AS rev,
         {channel} AS ch, {campaign} AS cp
  FROM {sql.table(Event)} e
  WHERE e.tenant_id = %s AND e.timestamp >= %s AND e.timestamp < %s
),
j AS (
  SELECT pid, ep, conv, rev, ch, cp,
         SUM(conv) OVER (PARTITION BY pid ORDER BY ep, conv ROWS UNBOUNDED PRECEDING) + 1 - conv AS jseq,
         MIN(CASE WHEN conv = 1 THEN ep END) OVER (
             PARTITION BY pid ORDER BY ep, conv ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS conv_ep
  FROM ev WHERE conv = 1 OR ch IS NOT NULL
),
k AS (
  SELECT * FROM j
  WHERE (conv = 1 AND ep >= %s)
     OR (conv = 0 AND conv_ep IS NULL AND ep >= %s)
     OR (conv = 0 AND conv_ep >= %s AND ep >= conv_ep - %s)
),
p AS (
  SELECT pid, jseq, conv, rev, conv_ep,
         ROW_NUMBER() OVER ({ordered}) AS pos,
         SUM(1 - conv) OVER ({journey}) AS ntouch,
         {sql.ordered_concat("CASE WHEN conv = 0 THEN ch || %s || cp END")} OVER ({whole}) AS path
         {decay_cols}
  FROM k
)
SELECT 'p' AS kind, path, 0 AS pos, COUNT(*) AS conversions, 0 AS nulls, SUM(rev) AS value, 0 AS credit,
       0 AS credit_value
FROM p WHERE conv = 1 GROUP BY path
UNION ALL
SELECT 'p', path, 0, 0, COUNT(*), 0, 0, 0 FROM p WHERE conv = 0 AND conv_ep IS NULL AND pos = 1 GROUP BY path
{decay_select}
"""
    return text


def journeys_aggregate(*, tenant, start: dt.datetime, end: dt.datetime, lookback: dt.timedelta,
                       conversion_events: list[str], half_life: dt.timedelta | None = None) -> Journeys:
    """Distinct paths of the tenant's journeys whose conversion (or, for non-converting journeys, touchpoints)
    fall in [start, end); touchpoints up to `lookback` before `start` count for conversions in the period.

    Purchases as the conversion (the default) on PostgreSQL: read from the kept journeys (`cdp.Journey`) after
    folding in what changed since the last catch-up, so the read is exact; other conversion events, SQLite, or a
    tenant whose journeys are being rebuilt: rebuilt from the raw events (as exact, slower)."""
    if list(conversion_events) == [PURCHASE_EVENT] and journeys_read_prepare(tenant=tenant):
        return journeys_aggregate_kept(tenant=tenant, start=start, end=end, lookback=lookback, half_life=half_life)
    return journeys_aggregate_raw(tenant=tenant, start=start, end=end, lookback=lookback,
                                  conversion_events=conversion_events, half_life=half_life)


def _kept_query(*, with_decay: bool) -> str:
    """Over the kept journeys: a journey whose touchpoints all lie inside the lookback (or, non-converting, inside
    the period) contributes its stored path; only the others cut theirs from the touchpoint times."""
    table = sql.table(Journey)

    def cut(since: str, before: str | None = None) -> str:
        """The path's touchpoints at or after `since` (and before `before`): a slice of the path, its bounds found
        by binary search in the (ascending) touch times — width_bucket(x, times) counts the times <= x, and
        timestamps are whole microseconds, so x - EPSILON counts those < x. Null when none is left. Parsing the
        times' text is most of the cost, so the upper bound is searched only when the last touchpoint is past it."""
        def count_before(moment: str) -> str:
            return f"width_bucket({moment} - %(epsilon)s, j.touch_times::float8[])"
        upper = (f"CASE WHEN j.last_touch < {before} THEN {2**31 - 1} ELSE {count_before(before)} END"
                 if before else "")
        return (f"NULLIF(array_to_string((string_to_array(j.path, %(path_sep)s))"
                f"[{count_before(since)} + 1:{upper}], %(path_sep)s), '')")

    decay_select = ""
    if with_decay:
        weight = "EXP(-(c.conv_ep - t.at) * %(rate)s)"
        decay_select = f"""
UNION ALL
SELECT 'd', path, pos, COUNT(*), 0, 0, SUM(credit)::float8, SUM(credit * rev)::float8 FROM (
  SELECT c.path, c.rev, ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY t.o) AS pos,
         COUNT(*) OVER (PARTITION BY c.id) AS ntouch, {weight} / SUM({weight}) OVER (PARTITION BY c.id) AS credit
  FROM c CROSS JOIN LATERAL unnest(c.touch_times::float8[]) WITH ORDINALITY t(at, o)
  WHERE t.at >= c.conv_ep - %(lookback)s
) d WHERE pos > ntouch - %(max_touches)s GROUP BY path, pos"""
    return f"""
WITH jc AS (
  SELECT j.id, j.revenue AS rev, j.path, j.touch_times, j.first_touch,
         EXTRACT(EPOCH FROM j.converted_at)::float8 AS conv_ep
  FROM {table} j
  WHERE j.tenant_id = %(tenant)s AND j.converted_at >= %(start)s AND j.converted_at < %(end)s
),
c AS (
  SELECT j.id, j.rev, j.touch_times, j.conv_ep,
         CASE WHEN j.first_touch IS NULL OR j.first_touch >= j.conv_ep - %(lookback)s THEN j.path
              ELSE {cut("(j.conv_ep - %(lookback)s)")} END COLLATE "C" AS path
  FROM jc j
),
n AS MATERIALIZED (
  SELECT CASE WHEN j.first_touch >= %(start_ep)s AND j.last_touch < %(end_ep)s THEN j.path
              ELSE {cut("%(start_ep)s", "%(end_ep)s")} END COLLATE "C" AS path
  FROM {table} j
  WHERE j.tenant_id = %(tenant)s AND (j.converted_at IS NULL OR j.converted_at >= %(end)s)
    AND j.first_touch < %(end_ep)s AND j.last_touch >= %(start_ep)s
)
SELECT 'p' AS kind, path, 0 AS pos, SUM(conv)::int AS conversions, SUM(1 - conv)::int AS nulls,
       SUM(rev)::float8 AS value, 0::float8 AS credit, 0::float8 AS credit_value
FROM (SELECT path, 1 AS conv, rev FROM c UNION ALL SELECT path, 0, 0 FROM n WHERE path IS NOT NULL) u
GROUP BY path
{decay_select}
"""


def journeys_aggregate_kept(*, tenant, start: dt.datetime, end: dt.datetime, lookback: dt.timedelta,
                            half_life: dt.timedelta | None = None) -> Journeys:
    """`journeys_aggregate` over the kept journeys (PostgreSQL, purchases as the conversion)."""
    params = {"tenant": tenant.pk, "start": start, "end": end, "start_ep": start.timestamp(),
              "end_ep": end.timestamp(), "lookback": lookback.total_seconds(), "path_sep": PATH_SEP,
              "max_touches": MAX_PATH_TOUCHES, "epsilon": EPSILON}
    if half_life is not None:
        params["rate"] = math.log(2) / half_life.total_seconds()
    with transaction.atomic():
        # The planner's cost guesses for the per-journey cuts (set-returning functions) cross the JIT thresholds;
        # compiling then took 2 s of a 3.5 s query that runs in a fraction of that interpreted. Grouping 100k paths
        # spilled its sort to disk at the default work_mem.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
        rows = sql.fetch(_kept_query(with_decay=half_life is not None), params)
    return _journeys_from_rows(rows, with_decay=half_life is not None)


def journeys_aggregate_raw(*, tenant, start: dt.datetime, end: dt.datetime, lookback: dt.timedelta,
                           conversion_events: list[str], half_life: dt.timedelta | None = None) -> Journeys:
    """The journeys rebuilt from the raw events with window functions (any conversion events; the reference the
    kept journeys are tested against)."""
    text = _query(with_decay=half_life is not None, conversion_events=conversion_events)
    sep_params = [PATH_SEP, KEY_SEP] * 4  # four sanitized expressions
    params: list = [*conversion_events, *conversion_events, *sep_params,
                    sql.param_tenant(tenant), sql.param_datetime(start - lookback), sql.param_datetime(end)]
    start_epoch = start.timestamp()
    params += [start_epoch, start_epoch, start_epoch, lookback.total_seconds()]
    params += [KEY_SEP, PATH_SEP]
    if half_life is not None:
        rate = math.log(2) / half_life.total_seconds()
        params += [rate, rate, MAX_PATH_TOUCHES]
    rows = sql.fetch(text, params)
    return _journeys_from_rows(rows, with_decay=half_life is not None)


def _journeys_from_rows(rows, *, with_decay: bool) -> Journeys:
    touch_ids: dict[tuple[str, str], int] = {}
    path_ids: dict[str | None, int] = {}
    parsed: list[tuple[int, ...]] = []
    full_length: list[int] = []
    conversions: list[float] = []
    nulls: list[float] = []
    revenue: list[float] = []
    decay_rows = []

    key_ids: dict[str, int] = {}  # a touchpoint's `channel<US>campaign` key → its id (few: split once each)

    def key_id(key: str) -> int:
        channel, _, campaign = key.partition(KEY_SEP)
        key_ids[key] = touch_ids.setdefault((channel, campaign), len(touch_ids))
        return key_ids[key]

    def path_id(text: str | None) -> int:
        index = path_ids.get(text)
        if index is not None:
            return index
        keys = text.split(PATH_SEP) if text else []
        ids = [key_ids.get(key) for key in keys[-MAX_PATH_TOUCHES:]]
        if None in ids:
            ids = [key_ids[key] if key in key_ids else key_id(key) for key in keys[-MAX_PATH_TOUCHES:]]
        if not ids:
            ids = [touch_ids.setdefault((DIRECT, ""), len(touch_ids))]
        path_ids[text] = len(parsed)
        parsed.append(tuple(ids))
        full_length.append(len(keys))
        conversions.append(0.0)
        nulls.append(0.0)
        revenue.append(0.0)
        return path_ids[text]

    for kind, path, pos, converted, null, value, credit, credit_value in rows:
        index = path_id(path)
        if kind == "p":
            conversions[index] += converted
            nulls[index] += null
            revenue[index] += float(value or 0)
        else:
            decay_rows.append((index, int(pos), float(credit or 0), float(credit_value or 0)))
    journeys = Journeys(touchpoints=[("", "")] * len(touch_ids), paths=parsed, conversions=np.array(conversions),
                        nulls=np.array(nulls), revenue=np.array(revenue))
    for key, i in touch_ids.items():
        journeys.touchpoints[i] = key
    if with_decay:
        journeys.decay, journeys.decay_revenue = _decay_by_position(parsed, full_length, decay_rows,
                                                                    journeys.conversions, journeys.revenue)
    return journeys


def _decay_by_position(paths, full_length, decay_rows, conversions, revenue):
    """Per path and kept position, the summed credit; rescaled so each path's credit sums to its conversions
    (and revenue): journeys cut to their last touchpoints, and direct conversions (no touchpoint rows)."""
    decay = [np.zeros(len(p)) for p in paths]
    decay_revenue = [np.zeros(len(p)) for p in paths]
    for index, pos, credit, credit_value in decay_rows:
        offset = pos - 1 - max(0, full_length[index] - MAX_PATH_TOUCHES)
        if 0 <= offset < len(paths[index]):
            decay[index][offset] += credit
            decay_revenue[index][offset] += credit_value
    for index in range(len(paths)):
        for values, total in ((decay[index], conversions[index]), (decay_revenue[index], revenue[index])):
            current = values.sum()
            if total <= 0:
                values[:] = 0
            elif current > 0:
                values *= total / current
            else:
                values[:] = total / len(values)
    return decay, decay_revenue
