"""`GET /analytics/funnel`: how many profiles got through each step, computed in one SQL statement.

Per profile: its first step-1 event in the period starts the funnel at t₁; step k is its first step-k event
after the step k−1 event and no later than t₁ + conversion window (a step repeated with the same type needs a
later event). Per step: profiles, conversion from the previous and from the first step, and the median time
from the previous step (the middle value, or the mean of the two middle values, picked with window functions).
A breakdown groups profiles by a property of their step-1 event (the 20 largest groups, the rest as "(other)").
"""
from __future__ import annotations

import datetime as dt

from django.db.models import CharField, F
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from campaigns.selectors.common import zone
from cdp.models import Event
from cdp.segmentation.compiler import _property_field
from stratum.api.exceptions import ValidationFailed
from stratum.api.params import DateRange

from .. import sql
from ..models import Funnel
from .services import step_filter

MAX_GROUPS = 20
OTHER = "(other)"


def _step_sql(*, tenant, funnel: Funnel, index: int, start: dt.datetime, end: dt.datetime,
              breakdown_keys: tuple[str, ...] | None) -> tuple[str, list]:
    step = funnel.steps[index]
    aliases, predicate = step_filter(tenant=tenant, where=step.get("where") or [], path=f"steps[{index}]", index=index)
    events = (Event.objects.for_tenant(tenant)
              .filter(event_type=step["event_type"], timestamp__gte=start, timestamp__lt=end)
              .alias(**aliases).filter(predicate))
    columns = {"pid": F("profile_id"), "happened": F("timestamp")}
    if breakdown_keys:
        columns["bd"] = Cast(KT("__".join(("properties", *breakdown_keys))), CharField())
    text, params = events.values(**columns).query.sql_with_params()
    return text, list(params)


def _query(*, tenant, funnel: Funnel, date_range: DateRange, breakdown_keys: tuple[str, ...] | None) -> list[tuple]:
    tz = zone(tenant.timezone)
    start = dt.datetime.combine(date_range.start, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(date_range.end + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    window = funnel.conversion_window_days * 86400.0
    parts, params = [], []
    first_sql, first_params = _step_sql(tenant=tenant, funnel=funnel, index=0, start=start, end=end,
                                        breakdown_keys=breakdown_keys)
    bd = "x.bd" if breakdown_keys else "NULL"
    parts.append(f"""s1r AS (SELECT x.pid, {sql.epoch('x.happened')} AS ep, {bd} AS bd,
                              ROW_NUMBER() OVER (PARTITION BY x.pid ORDER BY x.happened) AS rn FROM ({first_sql}) x),
s1 AS (SELECT pid, ep AS t1, ep AS tp, ep AS t, bd FROM s1r WHERE rn = 1)""")
    params += first_params
    for index in range(1, len(funnel.steps)):
        step_sql, step_params = _step_sql(tenant=tenant, funnel=funnel, index=index, start=start,
                                          end=end + dt.timedelta(days=funnel.conversion_window_days),
                                          breakdown_keys=None)
        k = index + 1
        parts.append(f"""s{k} AS (SELECT s.pid, s.t1, s.t AS tp, MIN(y.ep) AS t, s.bd FROM s{index} s
  JOIN (SELECT x.pid, {sql.epoch('x.happened')} AS ep FROM ({step_sql}) x) y
    ON y.pid = s.pid AND y.ep > s.t AND y.ep <= s.t1 + %s
  GROUP BY s.pid, s.t1, s.t, s.bd)""")
        params += [*step_params, window]
    union = " UNION ALL ".join(f"SELECT {k} AS step, bd, t - tp AS gap FROM s{k}"
                               for k in range(1, len(funnel.steps) + 1))
    text = f"""WITH {', '.join(parts)},
a AS ({union}),
d AS (SELECT step, bd, gap, ROW_NUMBER() OVER (PARTITION BY step, bd ORDER BY gap) AS rn,
             COUNT(*) OVER (PARTITION BY step, bd) AS c FROM a)
SELECT step, bd, MAX(c) AS n, AVG(CASE WHEN rn = (c + 1) / 2 OR rn = (c + 2) / 2 THEN gap END) AS median_gap
FROM d GROUP BY step, bd"""
    return sql.fetch(text, params)


def _steps(funnel: Funnel, counts: dict[int, int], medians: dict[int, float | None]) -> list[dict]:
    rows = []
    first = counts.get(1, 0)
    previous = first
    for k, step in enumerate(funnel.steps, start=1):
        count = counts.get(k, 0)
        rows.append({
            "step": k, "name": step["name"], "event_type": step["event_type"], "count": count,
            "conversion_from_previous": round(count / previous, 4) if previous else None,
            "conversion_from_first": round(count / first, 4) if first else None,
            "drop_off": (previous - count) if k > 1 else 0,
            "median_seconds_from_previous": (round(medians[k], 1) if k > 1 and medians.get(k) is not None
                                             else None),
        })
        previous = count
    return rows


def funnel_report(*, tenant, funnel: Funnel, date_range: DateRange, breakdown: str | None = None) -> dict:
    rows = _query(tenant=tenant, funnel=funnel, date_range=date_range, breakdown_keys=None)
    counts = {int(step): int(n) for step, _, n, _ in rows}
    medians = {int(step): (float(m) if m is not None else None) for step, _, _, m in rows}
    steps = _steps(funnel, counts, medians)
    entrants = counts.get(1, 0)
    body = {
        "funnel_id": str(funnel.pk), "name": funnel.name, **date_range.as_dict(),
        "conversion_window_days": funnel.conversion_window_days, "steps": steps,
        "overall_conversion": round(counts.get(len(funnel.steps), 0) / entrants, 4) if entrants else None,
        "insufficient_data": entrants == 0,
        "message": None if entrants else "No profile did the first step in the period.",
    }
    if breakdown:
        keys = tuple(breakdown.split(".")[1:])
        body["breakdown"] = _breakdown(funnel, _query(tenant=tenant, funnel=funnel, date_range=date_range,
                                                      breakdown_keys=keys), breakdown)
    return body


def _breakdown(funnel: Funnel, rows, name: str) -> dict:
    groups: dict[str | None, dict] = {}
    for step, value, n, median in rows:
        group = groups.setdefault(value, {"counts": {}, "medians": {}})
        group["counts"][int(step)] = int(n)
        group["medians"][int(step)] = float(median) if median is not None else None
    ranked = sorted(groups.items(), key=lambda item: (-item[1]["counts"].get(1, 0), str(item[0])))
    shown, rest = ranked[:MAX_GROUPS], ranked[MAX_GROUPS:]
    out = [{"value": value, "steps": _steps(funnel, group["counts"], group["medians"])} for value, group in shown]
    if rest:
        merged: dict[int, int] = {}
        for _, group in rest:
            for step, n in group["counts"].items():
                merged[step] = merged.get(step, 0) + n
        out.append({"value": OTHER, "steps": _steps(funnel, merged, {})})
    return {"property": name, "groups": out, "truncated": bool(rest)}


def breakdown_validate(value: str | None) -> str | None:
    """`properties.<key>[.<key>…]` of the step-1 event."""
    if value is None:
        return None
    spec = _property_field(value) if value.startswith("properties.") else None
    if spec is None:
        raise ValidationFailed(errors={"breakdown": ["Must name a step-1 event property: properties.<key>."]})
    return value
