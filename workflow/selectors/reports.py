"""Growth and performance reports of one client, from the daily campaign metrics of its ad accounts.

Growth: buckets (daily, weekly = ISO weeks from Monday, monthly = calendar months) clipped to the requested
range, each with spend, revenue, conversions and ROAS, its `days` and `partial` (clipped by the range), and the
growth in percent against the bucket before (the first bucket against the whole calendar bucket before it); totals
against the previous range of equal length. Like is compared with like: when either bucket is partial, growth
compares daily averages (`growth_basis: daily_average`), else totals (`total`) — a 6-day December is not "−82 %".
ROAS is a ratio and compares as is. Growth is null when the earlier figure is 0.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.db.models.functions import TruncMonth, TruncWeek

from accounts.models import Tenant
from campaigns.metrics import format_metrics, metric_sums
from campaigns.models import CampaignDailyMetric
from stratum.api.params import DateRange

from ..models import Client

GROWTH_FIELDS = ("spend", "revenue", "conversions")
GROWTH_METRICS = (*GROWTH_FIELDS, "roas")
PERIODS = ("daily", "weekly", "monthly")
DEFAULT_DAYS = {"daily": 30, "weekly": 84, "monthly": 365}


def bucket_start(day: dt.date, period: str) -> dt.date:
    if period == "weekly":
        return day - dt.timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def bucket_next(start: dt.date, period: str) -> dt.date:
    if period == "weekly":
        return start + dt.timedelta(days=7)
    if period == "monthly":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=1)


def bucket_previous(start: dt.date, period: str) -> dt.date:
    return bucket_start(start - dt.timedelta(days=1), period)


def client_metrics(*, tenant: Tenant, client: Client) -> QuerySet[CampaignDailyMetric]:
    return CampaignDailyMetric.objects.for_tenant(tenant).filter(campaign__ad_account__client=client)


def _growth(current: dict, previous: dict | None, *, days: int = 1, previous_days: int = 1) -> dict:
    """Growth in percent; sums are compared per day when the two spans differ in length (ROAS as is)."""
    out = {}
    for name in GROWTH_METRICS:
        now, before = current[name] or 0, (previous or {}).get(name) or 0
        if name in GROWTH_FIELDS and days != previous_days:
            now, before = now / days, before / previous_days
        out[name] = round((now - before) / before * 100, 2) if before else None
    return out


def _figures(row: dict | None) -> dict:
    return format_metrics({**{f"{f}_sum": 0 for f in GROWTH_FIELDS}, **(row or {})}, suffix="_sum",
                          names=GROWTH_METRICS)


def growth_report(*, tenant: Tenant, client: Client, dates: DateRange, period: str) -> dict:
    metrics = client_metrics(tenant=tenant, client=client)
    sums = metric_sums(suffix="_sum", fields=GROWTH_FIELDS)
    in_range = metrics.filter(date__gte=dates.start, date__lte=dates.end)
    if period == "daily":
        grouped = in_range.values("date").annotate(**sums)
        by_bucket = {row["date"]: row for row in grouped}
    else:
        trunc = TruncWeek("date") if period == "weekly" else TruncMonth("date")
        grouped = in_range.annotate(bucket=trunc).values("bucket").annotate(**sums)
        by_bucket = {_as_date(row["bucket"]): row for row in grouped}
    first = bucket_start(dates.start, period)
    before_start = bucket_previous(first, period)
    before = metrics.filter(date__gte=before_start, date__lt=first).aggregate(**sums)
    previous = dates.previous()
    totals = _figures(in_range.aggregate(**sums))
    previous_totals = _figures(metrics.filter(date__gte=previous.start, date__lte=previous.end).aggregate(**sums))

    series = []
    last, last_days, last_partial = _figures(before), (first - before_start).days, False
    start = first
    while start <= dates.end:
        following = bucket_next(start, period)
        shown_start, shown_end = max(start, dates.start), min(following - dt.timedelta(days=1), dates.end)
        days = (shown_end - shown_start).days + 1
        partial = days < (following - start).days
        figures = _figures(by_bucket.get(start))
        per_day = partial or last_partial
        series.append({"period_start": shown_start.isoformat(), "period_end": shown_end.isoformat(),
                       "days": days, "partial": partial, **figures,
                       "growth_basis": "daily_average" if per_day else "total",
                       "growth": _growth(figures, last, days=days if per_day else 1,
                                         previous_days=last_days if per_day else 1)})
        last, last_days, last_partial, start = figures, days, partial, following
    return {
        "client_id": str(client.pk), "client_name": client.name, "period": period, **dates.as_dict(),
        "currency": tenant.currency, "totals": totals, "previous_totals": previous_totals,
        "growth": _growth(totals, previous_totals), "series": series,
    }


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def performance_report(*, tenant: Tenant, client: Client, dates: DateRange, platform: str | None = None,
                       campaign_id=None) -> dict:
    metrics = client_metrics(tenant=tenant, client=client).filter(date__gte=dates.start, date__lte=dates.end)
    if platform:
        metrics = metrics.filter(campaign__platform=platform)
    if campaign_id is not None:
        metrics = metrics.filter(campaign_id=campaign_id)
    sums = metric_sums(suffix="_sum")
    platforms = [{"platform": row["campaign__platform"], **format_metrics(row, suffix="_sum")}
                 for row in metrics.values("campaign__platform").annotate(**sums).order_by("-spend_sum",
                                                                                            "campaign__platform")]
    campaigns = [
        {"campaign_id": str(row["campaign_id"]), "campaign_name": row["campaign__name"],
         "platform": row["campaign__platform"], "status": row["campaign__status"],
         "ad_account_id": str(row["campaign__ad_account_id"]), **format_metrics(row, suffix="_sum")}
        for row in metrics.values("campaign_id", "campaign__name", "campaign__platform", "campaign__status",
                                  "campaign__ad_account_id").annotate(**sums).order_by("-spend_sum", "campaign__name")
    ]
    return {
        "client_id": str(client.pk), "client_name": client.name, **dates.as_dict(), "currency": tenant.currency,
        "filters": {"platform": platform, "campaign_id": str(campaign_id) if campaign_id else None},
        "totals": format_metrics(metrics.aggregate(**sums), suffix="_sum"),
        "platforms": platforms, "campaigns": campaigns,
    }
