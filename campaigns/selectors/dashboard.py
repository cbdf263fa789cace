"""Dashboard figures: one aggregate query per figure, metrics as defined in campaigns/metrics.py."""
from __future__ import annotations

from stratum.api.params import DateRange

from ..metrics import format_metrics, metric_ratios, metric_sums, zero_sums
from ..models import Campaign, CampaignStatus
from .common import in_range, metric_rows, percent_change

# What the overview shows, and what tells a platform with activity in the period from one without.
OVERVIEW_SUMS = ("impressions", "spend", "conversions", "revenue")
HEADLINE = ("spend", "revenue", "roas", "conversions", "clicks", "impressions", "cpa", "ctr")


def metric_totals(*, tenant, date_range: DateRange, platform: str | None = None, campaign_ids=None,
                  statuses=None, compare: bool = False) -> tuple[dict, dict | None]:
    """Sums and ratios for the range (and the same-length range before it), in one query."""
    scope = dict(tenant=tenant, platform=platform, campaign_ids=campaign_ids, statuses=statuses)
    if not compare:
        totals = metric_rows(date_range=date_range, **scope).aggregate(**metric_sums())
        return format_metrics(totals), None
    previous = date_range.previous()
    rows = metric_rows(date_range=DateRange(previous.start, date_range.end), **scope)
    totals = rows.aggregate(**metric_sums(filter=in_range(date_range), suffix="_cur"),
                            **metric_sums(filter=in_range(previous), suffix="_prev"))
    return format_metrics(totals, suffix="_cur"), format_metrics(totals, suffix="_prev")


def platform_breakdown(*, tenant, date_range: DateRange) -> dict[str, dict]:
    rows = (metric_rows(tenant=tenant, date_range=date_range).values("campaign__platform")
            .annotate(**metric_sums(suffix="_sum", fields=("spend", "revenue", "conversions")))
            .annotate(**metric_ratios(suffix="_sum", names=("roas", "cpa")))
            .order_by("campaign__platform"))
    return {r["campaign__platform"]: format_metrics(r, suffix="_sum", names=("spend", "revenue", "conversions",
                                                                             "roas", "cpa"))
            for r in rows}


def active_campaign_count(*, tenant) -> int:
    return Campaign.objects.for_tenant(tenant).filter(status=CampaignStatus.ACTIVE).count()


def dashboard_figures(*, tenant, date_range: DateRange) -> dict:
    """The campaign figures of the dashboard's overview (total_spend, total_revenue, roas, conversions,
    active_campaigns, platforms) plus the period, the currency and the change against the previous period of the
    same length. analytics/dashboard.py adds the trust engine's signal health to make the overview.

    One grouped query gives both periods per platform, summing only what the overview shows; the totals add up
    those few platform rows.
    """
    previous_range = date_range.previous()
    grouped = (metric_rows(tenant=tenant, date_range=DateRange(previous_range.start, date_range.end))
               .values("campaign__platform")
               .annotate(**metric_sums(filter=in_range(date_range), suffix="_cur", fields=OVERVIEW_SUMS),
                         **metric_sums(filter=in_range(previous_range), suffix="_prev", fields=OVERVIEW_SUMS))
               .order_by("campaign__platform"))
    sums = {f"{field}{suffix}": 0 for field in OVERVIEW_SUMS for suffix in ("_cur", "_prev")}
    platforms = {}
    for row in grouped:
        for key in sums:
            sums[key] += row[key]
        if any(row[f"{field}_cur"] for field in OVERVIEW_SUMS):
            platforms[row["campaign__platform"]] = format_metrics(
                row, suffix="_cur", names=("spend", "revenue", "conversions", "roas", "cpa"))
    current, previous = format_metrics(sums, suffix="_cur"), format_metrics(sums, suffix="_prev")
    return {
        "total_spend": current["spend"],
        "total_revenue": current["revenue"],
        "roas": current["roas"],
        "conversions": current["conversions"],
        "active_campaigns": active_campaign_count(tenant=tenant),
        "platforms": platforms,
        "currency": tenant.currency,
        **date_range.as_dict(),
        "previous_period": {**previous_range.as_dict(), "total_spend": previous["spend"],
                            "total_revenue": previous["revenue"], "roas": previous["roas"],
                            "conversions": previous["conversions"]},
        "changes": {name: percent_change(current[name], previous[name])
                    for name in ("spend", "revenue", "roas", "conversions")},
    }


def daily_series(*, rows, date_range: DateRange) -> list[dict]:
    """One point per day of the range (days without data are zeros), from a per-day grouped query."""
    by_day = {r["date"]: r for r in rows.values("date").annotate(**metric_sums(suffix="_sum")).order_by("date")}
    zero = zero_sums(suffix="_sum")
    return [{"date": day.isoformat(), **format_metrics(by_day.get(day, zero), suffix="_sum")}
            for day in date_range.dates()]


def dashboard_performance(*, tenant, date_range: DateRange, platform: str | None = None) -> dict:
    totals, previous = metric_totals(tenant=tenant, date_range=date_range, platform=platform, compare=True)
    rows = metric_rows(tenant=tenant, date_range=date_range, platform=platform)
    return {
        **date_range.as_dict(),
        "platform": platform,
        "currency": tenant.currency,
        "totals": totals,
        "previous_totals": previous,
        "changes": {name: percent_change(totals[name], previous[name]) for name in HEADLINE},
        "series": daily_series(rows=rows, date_range=date_range),
        "platforms": platform_breakdown(tenant=tenant, date_range=date_range) if platform is None else None,
    }

