"""Creative fatigue: an ad's CTR falls while its spend holds.

Per active ad over the last 28 days (days with ≥ 100 impressions, at least 14 of them): least-squares lines of
daily CTR and of daily spend against the day (scipy `linregress`). Fatigue when the CTR line falls by ≥ 20 %
from the window's first to its last day with p < 0.01, while the spend line moves by less than ±25 % — falling
CTR at stable spend is the audience tiring of the creative, not a budget change. `confidence` = 1 − p;
`potential_impact` = the clicks a week lost at the current impressions against the CTR at the window's start.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from django.db.models import Q
from scipy.stats import linregress

from campaigns.models import AdDailyMetric

WINDOW_DAYS = 28
MIN_DAYS = 14
MIN_IMPRESSIONS = 100
MIN_DECLINE = 0.20
MAX_P = 0.01
MAX_SPEND_CHANGE = 0.25


def fatigue_insights(*, tenant, today: dt.date, campaign_names: dict) -> list[dict]:
    start = today - dt.timedelta(days=WINDOW_DAYS - 1)
    rows = (AdDailyMetric.objects.for_tenant(tenant)
            .filter(date__range=(start, today), impressions__gte=MIN_IMPRESSIONS, campaign_id__in=list(campaign_names))
            .filter(Q(ad__status="active"))
            .order_by("ad_id", "date")
            .values_list("ad_id", "ad__name", "campaign_id", "date", "impressions", "clicks", "spend"))
    by_ad: dict = {}
    for ad_id, name, campaign_id, date, impressions, clicks, spend in rows:
        by_ad.setdefault(ad_id, {"name": name, "campaign_id": campaign_id, "points": []})["points"].append(
            ((date - start).days, impressions, clicks, float(spend)))
    insights = []
    for ad_id, ad in by_ad.items():
        points = ad["points"]
        if len(points) < MIN_DAYS:
            continue
        days = np.array([p[0] for p in points], dtype=float)
        ctr = np.array([p[2] / p[1] * 100 for p in points])
        spend = np.array([p[3] for p in points])
        ctr_fit, spend_fit = linregress(days, ctr), linregress(days, spend)
        first, last = days.min(), days.max()
        ctr_start = float(ctr_fit.intercept + ctr_fit.slope * first)
        ctr_end = float(ctr_fit.intercept + ctr_fit.slope * last)
        spend_start = float(spend_fit.intercept + spend_fit.slope * first)
        spend_change = float(spend_fit.slope * (last - first)) / spend_start if spend_start > 0 else 1.0
        if ctr_start <= 0 or ctr_fit.slope >= 0:
            continue
        decline = 1 - max(ctr_end, 0.0) / ctr_start
        if decline < MIN_DECLINE or ctr_fit.pvalue >= MAX_P or abs(spend_change) >= MAX_SPEND_CHANGE:
            continue
        weekly_impressions = sum(p[1] for p in points if p[0] > last - 7)
        lost = weekly_impressions * (ctr_start - max(ctr_end, 0.0)) / 100
        campaign = campaign_names[ad["campaign_id"]]
        insights.append({
            "type": "creative_fatigue", "severity": "high" if decline >= 0.4 else "medium",
            "title": f"Creative fatigue: {ad['name']}",
            "description": (f"CTR of '{ad['name']}' ({campaign}) fell {decline * 100:.0f}% over the last "
                            f"{WINDOW_DAYS} days ({ctr_start:.2f}% → {max(ctr_end, 0.0):.2f}%, trend p = "
                            f"{ctr_fit.pvalue:.1g}) while its spend changed {spend_change * 100:+.0f}%. Refresh the "
                            f"creative or rotate in a new one."),
            "potential_impact": f"−{lost:,.0f} clicks per week",
            "confidence": round(float(1 - ctr_fit.pvalue), 3),
            "entity": {"ad_id": str(ad_id), "campaign_id": str(ad["campaign_id"])},
            "data": {"ctr_start": round(ctr_start, 3), "ctr_end": round(max(ctr_end, 0.0), 3),
                     "ctr_decline": round(decline, 3), "p_value": float(ctr_fit.pvalue),
                     "spend_change": round(spend_change, 3), "days": len(points)},
        })
    insights.sort(key=lambda item: -item["data"]["ctr_decline"])
    return insights
