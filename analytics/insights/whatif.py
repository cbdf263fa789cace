"""`POST /analytics/what-if`: spend, revenue and ROAS per campaign under new daily budgets, from the fitted curves.

A campaign's expected daily spend under a budget B is B × u, u = its recent delivery (mean daily spend of the last
14 days with data ÷ its current daily budget, at most 1); its revenue is the response curve at that spend.
Figures are totals over `horizon_days` for the current budget (baseline) and the new one (scenario), with 95 %
intervals (curves.Curve.total_interval; the total's interval adds the campaigns' variances, fits independent).
A new spend more than 20 % outside the spend range the campaign has run at is flagged `extrapolated`. A campaign
without a curve is listed with `insufficient_data` and left out of the total (`complete` is then false).
"""
from __future__ import annotations

import math

from campaigns.metrics import money
from campaigns.models import Campaign, CampaignStatus
from stratum.api.exceptions import ValidationFailed
from stratum.api.params import local_today

from .curves import MIN_DAYS, curves_fit

Z95 = 1.96


def _scenario(curve, spend: float, days: int) -> dict:
    revenue, low, high = curve.total_interval(spend, days, Z95)
    total_spend = spend * days
    return {"spend": money(total_spend), "revenue": money(revenue), "revenue_low": money(low),
            "revenue_high": money(high), "roas": round(revenue / total_spend, 2) if total_spend else 0.0,
            "roas_low": round(low / total_spend, 2) if total_spend else 0.0,
            "roas_high": round(high / total_spend, 2) if total_spend else 0.0,
            "_var": ((high - revenue) / Z95) ** 2}


def what_if_simulate(*, tenant, changes: list[dict], horizon_days: int = 30) -> dict:
    ids = [c["campaign_id"] for c in changes]
    rows = Campaign.objects.for_tenant(tenant).filter(pk__in=ids).exclude(status=CampaignStatus.DELETED)
    campaigns = {c.pk: c for c in rows}
    errors = {}
    for i, change in enumerate(changes):
        campaign = campaigns.get(change["campaign_id"])
        if campaign is None:
            errors[f"changes[{i}].campaign_id"] = ["Unknown campaign."]
        elif campaign.budget_type != "daily":
            errors[f"changes[{i}].budget"] = ["The simulator works with daily budgets; this campaign has a lifetime "
                                              "budget."]
    if errors:
        raise ValidationFailed(errors=errors)
    curves = curves_fit(tenant=tenant, today=local_today(tenant.timezone), campaign_ids=ids)
    items, totals = [], {"baseline": [0.0, 0.0, 0.0], "scenario": [0.0, 0.0, 0.0]}
    complete = True
    for change in changes:
        campaign = campaigns[change["campaign_id"]]
        budget = float(change["budget"])
        item = {"campaign_id": str(campaign.pk), "name": campaign.name, "current_budget": money(campaign.budget_amount),
                "new_budget": money(budget)}
        curve = curves.get(campaign.pk)
        if curve is None:
            complete = False
            items.append({**item, "insufficient_data": True, "baseline": None, "scenario": None, "change": None,
                          "extrapolated": None,
                          "message": f"No response curve: the campaign needs {MIN_DAYS}+ days with spend in the last "
                                     "90 days, and spend that varies."})
            continue
        current = float(campaign.budget_amount)
        delivery = min(curve.recent_spend / current, 1.0) if current > 0 else 1.0
        new_spend = budget * delivery
        baseline = _scenario(curve, curve.recent_spend, horizon_days)
        scenario = _scenario(curve, new_spend, horizon_days)
        for name, figures, spend in (("baseline", baseline, curve.recent_spend), ("scenario", scenario, new_spend)):
            totals[name][0] += spend * horizon_days
            totals[name][1] += curve.revenue(spend) * horizon_days
            totals[name][2] += figures.pop("_var")
        extrapolated = not curve.within_range(new_spend)
        items.append({**item, "insufficient_data": False, "delivery_rate": round(delivery, 3),
                      "baseline": baseline, "scenario": scenario,
                      "change": {"spend": money(scenario["spend"] - baseline["spend"]),
                                 "revenue": money(scenario["revenue"] - baseline["revenue"])},
                      "extrapolated": extrapolated,
                      "model": {"a": round(curve.a, 4), "b": round(curve.b, 4), "r_squared": round(curve.r_squared, 3),
                                "marginal_roas_now": round(curve.marginal_roas(curve.recent_spend), 4),
                                "days": curve.days}})
    total = {}
    for name, (spend, revenue, variance) in totals.items():
        half = Z95 * math.sqrt(variance)
        total[name] = {"spend": money(spend), "revenue": money(revenue), "revenue_low": money(max(0.0, revenue - half)),
                       "revenue_high": money(revenue + half), "roas": round(revenue / spend, 2) if spend else 0.0}
    total["change"] = {"spend": money(total["scenario"]["spend"] - total["baseline"]["spend"]),
                       "revenue": money(total["scenario"]["revenue"] - total["baseline"]["revenue"])}
    return {"horizon_days": horizon_days, "currency": tenant.currency, "campaigns": items, "total": total,
            "complete": complete, "insufficient_data": not any(not i["insufficient_data"] for i in items)}
