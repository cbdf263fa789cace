"""Event reads: the timeline and the statistics of a period."""
from __future__ import annotations

import datetime as dt
import zoneinfo

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
    """Counts of the period's events (days in the tenant's time zone): totals, by type, by day, purchases."""
    zone = zoneinfo.ZoneInfo(tenant.timezone)
    start = dt.datetime.combine(period.start, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    events = Event.objects.for_tenant(tenant).filter(timestamp__gte=start, timestamp__lt=end)
    totals = events.aggregate(total=Count("pk"), profiles=Count("profile_id", distinct=True),
                              purchases=Count("pk", filter=Q(event_type=PURCHASE_EVENT)),
                              revenue=Sum("revenue", filter=Q(event_type=PURCHASE_EVENT)))
    by_type = (events.values("event_type")
               .annotate(count=Count("pk"), unique_profiles=Count("profile_id", distinct=True))
               .order_by("-count", "event_type"))
    by_day = dict(events.annotate(day=TruncDate("timestamp", tzinfo=zone)).values_list("day")
                  .annotate(n=Count("pk")).order_by())
    return {
        **period.as_dict(),
        "total_events": totals["total"],
        "unique_profiles": totals["profiles"],
        "by_type": [dict(row) for row in by_type],
        "by_day": [{"date": day.isoformat(), "count": by_day.get(day, 0)} for day in period.dates()],
        "purchases": {"count": totals["purchases"], "revenue": float(totals["revenue"] or 0)},
    }
