"""Recommendations for one campaign, derived from its data; every text carries the numbers behind it.

Rules (last 30 days in the account's time zone, "previous" = the 30 days before):
- no_delivery: active, a budget, and no spend at all in the period;
- pause (high): ROAS < 1 (break-even) with spend ≥ max(100, 3 daily budgets);
- review (medium): ROAS ≥ 1 but ≥ 30 % below the tenant's ROAS over the same period;
- increase_budget (high): budget-limited winner — ROAS ≥ max(2, 1.3 × the tenant's) and spend ≥ 95 % of
  the daily budget on ≥ 80 % of the days it ran (at least 7): suggests +20 %;
- investigate (medium): ROAS fell ≥ 25 % against the previous period (both with spend);
- refresh_creative (medium): an ad whose CTR over the last 7 days is ≥ 25 % below its CTR in days 22–28
  ago (creative fatigue; both weeks with ≥ 1,000 impressions);
- pacing (high/medium): the campaign's pacing alert, if any.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q
from django.utils import timezone

from stratum.api.params import DateRange, local_today

from ..metrics import format_metrics, metric_sums, money, ratio_value
from ..models import Ad, Campaign, CampaignStatus
from .common import format_money, metric_rows
from .pacing import pacing_campaigns

PERIOD_DAYS = 30
BUDGET_STEP = Decimal("0.20")


def _period(campaign: Campaign) -> DateRange:
    today = local_today(campaign.ad_account.timezone)
    return DateRange(today - dt.timedelta(days=PERIOD_DAYS - 1), today)


def campaign_recommendations(*, tenant, campaign: Campaign) -> dict:
    period = _period(campaign)
    previous = period.previous()
    currency = campaign.ad_account.currency
    budget = campaign.budget_amount
    at_budget = Q(date__range=(period.start, period.end), spend__gte=budget * Decimal("0.95"))
    sums = metric_rows(tenant=tenant, date_range=DateRange(previous.start, period.end),
                       campaign_ids=[campaign.pk]).aggregate(
        **metric_sums(filter=Q(date__range=(period.start, period.end)), suffix="_cur"),
        **metric_sums(filter=Q(date__range=(previous.start, previous.end)), suffix="_prev"),
        days_at_budget=Count("id", filter=at_budget),
        days_with_spend=Count("id", filter=Q(date__range=(period.start, period.end), spend__gt=0)),
    )
    current, before = format_metrics(sums, suffix="_cur"), format_metrics(sums, suffix="_prev")
    tenant_totals = metric_rows(tenant=tenant, date_range=period).aggregate(**metric_sums(fields=("spend", "revenue")))
    tenant_roas = ratio_value(tenant_totals["revenue"], tenant_totals["spend"])
    out: list[dict] = []
    spend, roas = current["spend"], current["roas"]
    daily_budget = float(budget) if campaign.budget_type == "daily" else 0.0
    numbers = f"{format_money(spend, currency)} spend, {format_money(current['revenue'], currency)} revenue"

    if campaign.status == CampaignStatus.ACTIVE and budget > 0 and spend == 0:
        out.append(_rec("no_delivery", "high", "Campaign is not delivering",
                        f"The campaign is active with a {format_money(budget, currency)} {campaign.budget_type} budget "
                        f"but spent nothing in the last {PERIOD_DAYS} days. Check ad approvals, targeting and "
                        f"the payment method.", {"spend": spend}, None))
    if spend > 0 and roas < 1 and spend >= max(100.0, 3 * daily_budget):
        out.append(_rec("pause", "high", "Spend is not paying back",
                        f"ROAS is {roas:.2f} over the last {PERIOD_DAYS} days ({numbers}), below break-even (1.00). "
                        f"Pause it or rework targeting and creative.",
                        {"roas": roas, "spend": spend, "revenue": current["revenue"]}, {"type": "pause_campaign"}))
    elif spend > 0 and tenant_roas and roas < 0.7 * tenant_roas:
        out.append(_rec("review", "medium", "ROAS well below the account average",
                        f"ROAS {roas:.2f} is {round((1 - roas / tenant_roas) * 100)}% below the average of "
                        f"{tenant_roas:.2f} across all campaigns over the last {PERIOD_DAYS} days ({numbers}).",
                        {"roas": roas, "tenant_roas": round(tenant_roas, 2)}, None))
    days_ran, days_at_budget = sums["days_with_spend"], sums["days_at_budget"]
    if (campaign.status == CampaignStatus.ACTIVE and campaign.budget_type == "daily" and budget > 0 and days_ran >= 7
            and roas >= max(2.0, 1.3 * tenant_roas) and days_at_budget >= 0.8 * days_ran):
        new_budget = (budget * (1 + BUDGET_STEP)).quantize(Decimal("0.01"))
        out.append(_rec("increase_budget", "high", "Budget-limited winner",
                        f"Increase the daily budget by {int(BUDGET_STEP * 100)}% ({format_money(budget, currency)} → "
                        f"{format_money(new_budget, currency)}): ROAS {roas:.2f} over the last {PERIOD_DAYS} days "
                        f"and spend reached ≥95% of the budget on {days_at_budget} of {days_ran} days.",
                        {"roas": roas, "days_at_budget": days_at_budget, "days_with_spend": days_ran},
                        {"type": "budget_change", "budget_amount": money(new_budget),
                         "change_percent": int(BUDGET_STEP * 100)}))
    if before["spend"] > 0 and spend > 0 and before["roas"] > 0 and roas <= 0.75 * before["roas"]:
        drop = round((1 - roas / before["roas"]) * 100)
        out.append(_rec("investigate", "medium", "ROAS is falling",
                        f"ROAS fell {drop}% against the previous {PERIOD_DAYS} days "
                        f"({before['roas']:.2f} → {roas:.2f}).",
                        {"roas": roas, "previous_roas": before["roas"]}, None))
    out.extend(_fatigue(tenant=tenant, campaign=campaign, today=period.end))
    if campaign.status == CampaignStatus.ACTIVE:
        for item in pacing_campaigns(tenant=tenant, campaign_ids=[campaign.pk]):
            if item["severity"] != "ok":
                out.append(_rec("pacing", "high" if item["severity"] == "critical" else "medium",
                                f"Campaign is {item['type']}", f"{item['message']} {item['recommendation']}",
                                {"expected_spend": item["expected_spend"], "actual_spend": item["actual_spend"],
                                 "deviation_percent": item["deviation_percent"]}, None))
    rank = {"high": 0, "medium": 1, "low": 2}
    out.sort(key=lambda r: rank[r["priority"]])
    return {"campaign_id": str(campaign.pk), "campaign_name": campaign.name, **period.as_dict(),
            "generated_at": timezone.now(), "metrics": current, "recommendations": out}


def _fatigue(*, tenant, campaign: Campaign, today: dt.date) -> list[dict]:
    recent = Q(daily_metrics__date__range=(today - dt.timedelta(days=6), today))
    earlier = Q(daily_metrics__date__range=(today - dt.timedelta(days=27), today - dt.timedelta(days=21)))
    ads = (Ad.objects.for_tenant(tenant).filter(campaign=campaign).exclude(status=CampaignStatus.DELETED)
           .annotate(**metric_sums(path="daily_metrics__", filter=recent, fields=("impressions", "clicks"),
                                   suffix="_now"))
           .annotate(**metric_sums(path="daily_metrics__", filter=earlier, fields=("impressions", "clicks"),
                                   suffix="_before"))
           .order_by("name"))
    out = []
    for ad in ads:
        before = ratio_value(ad.clicks_before, ad.impressions_before, 100)
        now = ratio_value(ad.clicks_now, ad.impressions_now, 100)
        if ad.impressions_now >= 1000 and ad.impressions_before >= 1000 and before > 0 and now <= 0.75 * before:
            drop = round((1 - now / before) * 100)
            out.append(_rec("refresh_creative", "medium", f"Creative fatigue: {ad.name}",
                            f"Refresh creative '{ad.name}': CTR fell from {before:.2f}% to {now:.2f}% (−{drop}%) "
                            f"between days 22–28 ago and the last 7 days.",
                            {"ad_id": str(ad.pk), "ctr": round(now, 2), "previous_ctr": round(before, 2)},
                            {"type": "refresh_creative", "ad_id": str(ad.pk)}))
    return out


def _rec(kind: str, priority: str, title: str, description: str, metrics: dict, action: dict | None) -> dict:
    return {"type": kind, "priority": priority, "title": title, "description": description, "metrics": metrics,
            "action": action}
