"""Creative fatigue: an ad's CTR falls while its spend holds.

Per active ad over the last 28 days (days with ≥ 100 impressions, at least 14 of them): least-squares lines of
daily CTR and of daily spend against the day (the closed-form fit `linregress` computes, without its per-call
argument handling, which took most of the request: two calls per ad). Fatigue when the CTR line falls by ≥ 20 %
from the window's first to its last day with p < 0.01, while the spend line moves by less than ±25 % — falling
CTR at stable spend is the audience tiring of the creative, not a budget change. `confidence` = 1 − p;
`potential_impact` = the clicks a week lost at the current impressions against the CTR at the window's start.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from scipy.special import stdtr

from campaigns.models import Ad, AdDailyMetric

WINDOW_DAYS = 28
MIN_DAYS = 14
MIN_IMPRESSIONS = 100
MIN_DECLINE = 0.20
MAX_P = 0.01
MAX_SPEND_CHANGE = 0.25


def _line(days: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """(slope, intercept, two-sided p-value of the slope) of the least-squares line — scipy's `linregress`."""
    n = len(days)
    x_mean, y_mean = days.mean(), values.mean()
    dx, dy = days - x_mean, values - y_mean
    ssxm, ssym, ssxym = (dx * dx).mean(), (dy * dy).mean(), (dx * dy).mean()
    slope = ssxym / ssxm
    r = 0.0 if ssxm == 0 or ssym == 0 else min(max(ssxym / np.sqrt(ssxm * ssym), -1.0), 1.0)
    df = n - 2
    t = r * np.sqrt(df / ((1.0 - r) * (1.0 + r) + 1e-20))
    return float(slope), float(y_mean - slope * x_mean), float(2 * stdtr(df, -abs(t)))


def fatigue_insights(*, tenant, today: dt.date, campaign_names: dict) -> list[dict]:
    start = today - dt.timedelta(days=WINDOW_DAYS - 1)
    # The active ads (a few rows), then their daily rows by id: no join whose plan hangs on fresh statistics (a
    # nested loop over every ad per metric row took 70 ms of the request after a seed).
    ads = dict(Ad.objects.for_tenant(tenant).filter(campaign_id__in=list(campaign_names), status="active")
               .values_list("pk", "name"))
    rows = (AdDailyMetric.objects.for_tenant(tenant)
            .filter(date__range=(start, today), impressions__gte=MIN_IMPRESSIONS, campaign_id__in=list(campaign_names),
                    ad_id__in=list(ads))
            .order_by("ad_id", "date")
            .values_list("ad_id", "campaign_id", "date", "impressions", "clicks", "spend"))
    by_ad: dict = {}
    for ad_id, campaign_id, date, impressions, clicks, spend in rows:
        by_ad.setdefault(ad_id, {"name": ads[ad_id], "campaign_id": campaign_id, "points": []})["points"].append(
            ((date - start).days, impressions, clicks, float(spend)))
    insights = []
    for ad_id, ad in by_ad.items():
        points = ad["points"]
        if len(points) < MIN_DAYS:
            continue
        days = np.array([p[0] for p in points], dtype=float)
        ctr = np.array([p[2] / p[1] * 100 for p in points])
        spend = np.array([p[3] for p in points])
        ctr_slope, ctr_intercept, p_value = _line(days, ctr)
        first, last = days.min(), days.max()
        ctr_start = float(ctr_intercept + ctr_slope * first)
        ctr_end = float(ctr_intercept + ctr_slope * last)
        if ctr_start <= 0 or ctr_slope >= 0:
            continue
        decline = 1 - max(ctr_end, 0.0) / ctr_start
        if decline < MIN_DECLINE or p_value >= MAX_P:
            continue
        spend_slope, spend_intercept, _ = _line(days, spend)  # only for a falling CTR
        spend_start = float(spend_intercept + spend_slope * first)
        spend_change = float(spend_slope * (last - first)) / spend_start if spend_start > 0 else 1.0
        if abs(spend_change) >= MAX_SPEND_CHANGE:
            continue
        weekly_impressions = sum(p[1] for p in points if p[0] > last - 7)
        lost = weekly_impressions * (ctr_start - max(ctr_end, 0.0)) / 100
        campaign = campaign_names[ad["campaign_id"]]
        insights.append({
            "type": "creative_fatigue", "severity": "high" if decline >= 0.4 else "medium",
            "title": f"Creative fatigue: {ad['name']}",
            "description": (f"CTR of '{ad['name']}' ({campaign}) fell {decline * 100:.0f}% over the last "
                            f"{WINDOW_DAYS} days ({ctr_start:.2f}% → {max(ctr_end, 0.0):.2f}%, trend p = "
                            f"{p_value:.1g}) while its spend changed {spend_change * 100:+.0f}%. Refresh the "
                            f"creative or rotate in a new one."),
            "potential_impact": f"−{lost:,.0f} clicks per week",
            "confidence": round(float(1 - p_value), 3),
            "entity": {"ad_id": str(ad_id), "campaign_id": str(ad["campaign_id"])},
            "data": {"ctr_start": round(ctr_start, 3), "ctr_end": round(max(ctr_end, 0.0), 3),
                     "ctr_decline": round(decline, 3), "p_value": float(p_value),
                     "spend_change": round(spend_change, 3), "days": len(points)},
        })
    insights.sort(key=lambda item: -item["data"]["ctr_decline"])
    return insights
