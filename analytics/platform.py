"""Superadmin platform analytics (composed across accounts, billing, cdp and campaigns): tenants by plan, MRR, users, events ingested and ad spend managed, now and
over time. Platform-wide on purpose: every query here is `.unscoped()` (or a non-tenant table), greppable.

Each figure is aggregated in the database; the series uses one query per figure (conditional aggregates or
GROUP BY a truncated date), whatever the number of tenants.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from accounts.models import Tenant, User
from billing.models import Subscription, SubscriptionStatus
from billing.plans import Plan
from campaigns.models import CampaignDailyMetric
from cdp.models import EventIngestDay
from stratum.api.exceptions import ValidationFailed
from stratum.api.params import DateRange, parse_choice, parse_date_range

INTERVALS = ("day", "week", "month")
MAX_BUCKETS = 366
# Statuses whose subscriptions count in today's MRR, and the ones that never produced revenue.
MRR_STATUSES = ("active", "past_due")
NEVER_PAID_STATUSES = ("incomplete", "incomplete_expired")
# Events ingested: counted by when Stratum received each event (UTC day), kept per tenant and day by ingestion.


def bucket_starts(date_range: DateRange, interval: str) -> list[dt.date]:
    start = date_range.start
    if interval == "week":
        start -= dt.timedelta(days=start.weekday())
    elif interval == "month":
        start = start.replace(day=1)
    starts = []
    current = start
    while current <= date_range.end:
        starts.append(current)
        if interval == "day":
            current += dt.timedelta(days=1)
        elif interval == "week":
            current += dt.timedelta(days=7)
        else:
            current = (current.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return starts


def _bucket_end(starts: list[dt.date], index: int, date_range: DateRange) -> dt.datetime:
    """The instant a bucket ends (exclusive), capped at now for the running bucket."""
    end_date = starts[index + 1] if index + 1 < len(starts) else date_range.end + dt.timedelta(days=1)
    end = dt.datetime.combine(end_date, dt.time.min, tzinfo=dt.UTC)
    return min(end, timezone.now())


def _money(value) -> float:
    return float(Decimal(value or 0).quantize(Decimal("0.01")))


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _mrr(monthly, annual) -> Decimal:
    """Monthly plus annual amounts, annual ones spread over 12 months (summed apart: exact in Decimal)."""
    return Decimal(monthly or 0) + Decimal(annual or 0) / 12


def mrr_now() -> dict[str, float]:
    rows = (Subscription.objects.unscoped().filter(status__in=MRR_STATUSES).values("currency")
            .annotate(monthly=Sum("amount", filter=Q(billing_period="monthly")),
                      annual=Sum("amount", filter=Q(billing_period="annual"))).order_by("currency"))
    return {row["currency"]: _money(_mrr(row["monthly"], row["annual"])) for row in rows}


def _mrr_series(ends: list[dt.datetime]) -> list[dict[str, float]]:
    """MRR at each instant from the subscriptions' lifecycle (started, not yet ended, ever paid)."""
    aggregates = {}
    for i, end in enumerate(ends):
        live = Q(started_at__lt=end) & (Q(ended_at__isnull=True) | Q(ended_at__gt=end))
        aggregates[f"m{i}"] = Sum("amount", filter=live & Q(billing_period="monthly"))
        aggregates[f"a{i}"] = Sum("amount", filter=live & Q(billing_period="annual"))
    rows = (Subscription.objects.unscoped().exclude(status__in=NEVER_PAID_STATUSES).exclude(started_at__isnull=True)
            .values("currency").annotate(**aggregates).order_by("currency"))
    series: list[dict[str, float]] = [{} for _ in ends]
    for row in rows:
        for i in range(len(ends)):
            series[i][row["currency"]] = _money(_mrr(row[f"m{i}"], row[f"a{i}"]))
    return series


def _tenants_series(ends: list[dt.datetime], start: dt.datetime, interval: str, starts: list[dt.date]):
    totals = Tenant.objects.aggregate(**{f"b{i}": Count("id", filter=Q(created_at__lt=end))
                                         for i, end in enumerate(ends)})
    new = dict(Tenant.objects.filter(created_at__gte=start, created_at__lt=ends[-1])
               .annotate(bucket=Trunc("created_at", interval, tzinfo=dt.UTC)).values("bucket")
               .annotate(n=Count("id")).values_list("bucket", "n"))
    new = {_as_date(k): v for k, v in new.items()}
    return [totals[f"b{i}"] for i in range(len(ends))], [new.get(day, 0) for day in starts]


def _events_series(date_range: DateRange, interval: str, starts: list[dt.date]):
    """Events ingested per bucket, from the per-tenant, per-day ingestion counts (`EventIngestDay`): a year is
    tenants × 365 small rows, where counting the event table meant reading every event of the year."""
    rows = dict(EventIngestDay.objects.unscoped().filter(day__gte=date_range.start, day__lte=date_range.end)
                .annotate(bucket=Trunc("day", interval)).values("bucket")
                .annotate(n=Sum("count")).order_by().values_list("bucket", "n"))
    rows = {_as_date(k): v for k, v in rows.items()}
    per_bucket = [rows.get(day, 0) for day in starts]
    return sum(per_bucket), per_bucket


def _spend_series(date_range: DateRange, interval: str, starts: list[dt.date]):
    rows = (CampaignDailyMetric.objects.unscoped().filter(date__gte=date_range.start, date__lte=date_range.end)
            .annotate(bucket=Trunc("date", interval), currency=F("campaign__ad_account__currency"))
            .values("bucket", "currency").annotate(spend=Sum("spend")).order_by())
    per_bucket: list[dict[str, float]] = [{} for _ in starts]
    totals: dict[str, Decimal] = {}
    index = {day: i for i, day in enumerate(starts)}
    for row in rows:
        i = index.get(_as_date(row["bucket"]))
        if i is not None:
            per_bucket[i][row["currency"]] = _money(row["spend"])
        totals[row["currency"]] = totals.get(row["currency"], Decimal("0")) + (row["spend"] or Decimal("0"))
    return {currency: _money(value) for currency, value in sorted(totals.items())}, per_bucket


def overview_params(params) -> tuple[DateRange, str]:
    """The overview's range and interval from query parameters (`period`, `start_date`/`end_date`, `interval`), as
    both `/superadmin/analytics/overview` and the staff console's home page read them."""
    date_range = parse_date_range(params, tz="UTC", default_days=365)
    interval = parse_choice(params, "interval", INTERVALS, default="month")
    if len(bucket_starts(date_range, interval)) > MAX_BUCKETS:
        raise ValidationFailed(errors={"interval": [f"At most {MAX_BUCKETS} points: choose a coarser interval."]})
    return date_range, interval


def platform_overview(*, date_range: DateRange, interval: str) -> dict:
    starts = bucket_starts(date_range, interval)
    ends = [_bucket_end(starts, i, date_range) for i in range(len(starts))]
    range_start = dt.datetime.combine(date_range.start, dt.time.min, tzinfo=dt.UTC)
    range_end = dt.datetime.combine(date_range.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)

    tenants = Tenant.objects.aggregate(
        total=Count("id"), active=Count("id", filter=Q(status=Tenant.Status.ACTIVE)),
        suspended=Count("id", filter=Q(status=Tenant.Status.SUSPENDED)),
        new=Count("id", filter=Q(created_at__gte=range_start, created_at__lt=range_end)),
        **{f"plan_{plan}": Count("id", filter=Q(plan=plan)) for plan in Plan.values},
    )
    subscriptions = Subscription.objects.unscoped().aggregate(
        active=Count("pk", filter=Q(status=SubscriptionStatus.ACTIVE)),
        trialing=Count("pk", filter=Q(status=SubscriptionStatus.TRIALING)),
        past_due=Count("pk", filter=Q(status=SubscriptionStatus.PAST_DUE)),
        canceling=Count("pk", filter=Q(status__in=MRR_STATUSES, cancel_at_period_end=True)),
    )
    users = User.objects.filter(tenant__isnull=False).aggregate(
        total=Count("id", filter=Q(is_active=True)),
        active=Count("id", filter=Q(is_active=True, last_login__gte=range_start, last_login__lt=range_end)),
    )
    mrr = mrr_now()
    tenants_total, tenants_new = _tenants_series(ends, range_start, interval, starts)
    events_total, events = _events_series(date_range, interval, starts)
    spend_total, spend = _spend_series(date_range, interval, starts)
    mrr_series = _mrr_series(ends)
    return {
        "range": {**date_range.as_dict(), "interval": interval},
        "tenants": {
            "total": tenants["total"], "active": tenants["active"], "suspended": tenants["suspended"],
            "new": tenants["new"], "by_plan": {plan: tenants[f"plan_{plan}"] for plan in Plan.values},
        },
        "subscriptions": subscriptions,
        "mrr": mrr,
        "arr": {currency: _money(Decimal(str(value)) * 12) for currency, value in mrr.items()},
        "users": users,
        "events_ingested": events_total,
        "ad_spend_managed": spend_total,
        "series": [
            {"period_start": day.isoformat(), "tenants": tenants_total[i], "new_tenants": tenants_new[i],
             "mrr": mrr_series[i], "events_ingested": events[i], "ad_spend_managed": spend[i]}
            for i, day in enumerate(starts)
        ],
    }
