"""Event reads: the timeline and the statistics of a period."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from stratum.api.params import DateRange

from ..models import PURCHASE_EVENT, Event


def events_timeline(*, tenant, profile_id=None, event_type: str | None = None) -> QuerySet:
    events = Event.objects.for_tenant(tenant)
    if profile_id is not None:
        events = events.filter(profile_id=profile_id)
    if event_type:
        events = events.filter(event_type=event_type)
    return events.order_by("-timestamp", "pk")


def event_statistics(*, tenant, period: DateRange) -> dict:
    """Counts of the period's events (days in the tenant's time zone): totals, by type, by day, purchases.

    PostgreSQL: one pass over the period's events (GROUPING SETS: by type, by day, overall) — three separate
    aggregates read the same rows three times. Elsewhere: the three ORM aggregates."""
    zone = zoneinfo.ZoneInfo(tenant.timezone)
    start = dt.datetime.combine(period.start, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    if connection.vendor == "postgresql":
        totals, by_type, by_day = _statistics_one_pass(tenant=tenant, start=start, end=end, zone=tenant.timezone)
    else:
        totals, by_type, by_day = _statistics_orm(tenant=tenant, start=start, end=end, zone=zone)
    return {
        **period.as_dict(),
        "total_events": totals["total"],
        "unique_profiles": totals["profiles"],
        "by_type": by_type,
        "by_day": [{"date": day.isoformat(), "count": by_day.get(day, 0)} for day in period.dates()],
        "purchases": {"count": totals["purchases"], "revenue": float(totals["revenue"] or 0)},
    }


def _statistics_one_pass(*, tenant, start, end, zone: str):
    sql = f"""
SELECT GROUPING(e.event_type) AS no_type, GROUPING(e.day) AS no_day, e.event_type, e.day, COUNT(*),
       COUNT(DISTINCT e.profile_id), COUNT(*) FILTER (WHERE e.event_type = %s),
       SUM(e.revenue) FILTER (WHERE e.event_type = %s)
FROM (SELECT event_type, profile_id, revenue, (timestamp AT TIME ZONE %s)::date AS day
      FROM {Event._meta.db_table} WHERE tenant_id = %s AND timestamp >= %s AND timestamp < %s) e
GROUP BY GROUPING SETS ((e.event_type), (e.day), ())"""
    totals = {"total": 0, "profiles": 0, "purchases": 0, "revenue": None}
    by_type, by_day = [], {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [PURCHASE_EVENT, PURCHASE_EVENT, zone, tenant.pk, start, end])
        for no_type, no_day, event_type, day, count, profiles, purchases, revenue in cursor.fetchall():
            if no_type and no_day:
                totals = {"total": count, "profiles": profiles, "purchases": purchases, "revenue": revenue}
            elif no_day:
                by_type.append({"event_type": event_type, "count": count, "unique_profiles": profiles})
            else:
                by_day[day] = count
    by_type.sort(key=lambda row: (-row["count"], row["event_type"]))
    return totals, by_type, by_day


def _statistics_orm(*, tenant, start, end, zone):
    events = Event.objects.for_tenant(tenant).filter(timestamp__gte=start, timestamp__lt=end)
    totals = events.aggregate(total=Count("pk"), profiles=Count("profile_id", distinct=True),
                              purchases=Count("pk", filter=Q(event_type=PURCHASE_EVENT)),
                              revenue=Sum("revenue", filter=Q(event_type=PURCHASE_EVENT)))
    by_type = (events.values("event_type")
               .annotate(count=Count("pk"), unique_profiles=Count("profile_id", distinct=True))
               .order_by("-count", "event_type"))
    by_day = dict(events.annotate(day=TruncDate("timestamp", tzinfo=zone)).values_list("day")
                  .annotate(n=Count("pk")).order_by())
    return totals, [dict(row) for row in by_type], by_day
