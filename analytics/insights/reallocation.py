"""Budget reallocation from the response curves: move spend from the lowest to the highest marginal ROAS.

Among active campaigns with a curve, at their recent daily spend s: the donor has the lowest marginal ROAS R'(s),
the recipient the highest. The share f of the donor's daily spend to move (5–50 %, never pushing the recipient
above 1.2× the most it spent a day in the fit nor the donor below 0.8× its least — curves.EXTRAPOLATION: no
extrapolation far outside the data) maximises the expected daily gain

    G(f) = [R_rec(s_rec + f·s_don) − R_rec(s_rec)] + [R_don(s_don − f·s_don) − R_don(s_don)]

Impact is G over 30 days; its standard error comes from both curves' parameter covariances (delta method, the two
fits independent). `confidence` = Φ(G / SE(G)), the probability the move gains revenue under the fits'
uncertainty. A proposal is made when the gain is positive and confidence ≥ 0.6; up to two disjoint pairs.
"""
from __future__ import annotations

import math

from scipy.optimize import minimize_scalar
from scipy.stats import norm

from campaigns.selectors.common import format_money

from .curves import EXTRAPOLATION, Curve

HORIZON_DAYS = 30
MIN_CONFIDENCE = 0.6
MAX_PROPOSALS = 2
MAX_SHARE, MIN_SHARE = 0.5, 0.05


def _gain(donor: Curve, recipient: Curve, share: float) -> tuple[float, float]:
    """Expected daily revenue gain and its standard error for moving `share` of the donor's spend."""
    moved = share * donor.recent_spend
    s_don, s_rec = donor.recent_spend, recipient.recent_spend
    gain = (recipient.revenue(s_rec + moved) - recipient.revenue(s_rec)
            + donor.revenue(s_don - moved) - donor.revenue(s_don))
    g_rec = recipient.gradient(s_rec + moved) - recipient.gradient(s_rec)
    g_don = donor.gradient(s_don - moved) - donor.gradient(s_don)
    variance = float(g_rec @ recipient.cov @ g_rec) + float(g_don @ donor.cov @ g_don)
    return gain, math.sqrt(max(variance, 0.0))


def _best_share(donor: Curve, recipient: Curve) -> float | None:
    room_up = (1 + EXTRAPOLATION) * recipient.spend_max - recipient.recent_spend
    room_down = donor.recent_spend - (1 - EXTRAPOLATION) * donor.spend_min
    high = min(MAX_SHARE, room_up / donor.recent_spend, room_down / donor.recent_spend)
    if high < MIN_SHARE:
        return None
    result = minimize_scalar(lambda f: -_gain(donor, recipient, f)[0], bounds=(MIN_SHARE, high), method="bounded")
    rounded = math.floor(float(result.x) * 20) / 20  # whole 5 % steps, never above the bound
    return rounded if rounded >= MIN_SHARE else MIN_SHARE


def reallocation_insights(*, curves: dict, names: dict, currency: str) -> list[dict]:
    candidates = {cid: c for cid, c in curves.items() if cid in names and c.recent_spend > 0}
    insights = []
    used: set = set()
    while len(insights) < MAX_PROPOSALS:
        pool = {cid: c for cid, c in candidates.items() if cid not in used}
        if len(pool) < 2:
            break
        ranked = sorted(pool.values(), key=lambda c: c.marginal_roas(c.recent_spend))
        donor, recipient = ranked[0], ranked[-1]
        share = _best_share(donor, recipient)
        used.update({donor.campaign_id, recipient.campaign_id})
        if share is None:
            continue
        gain, se = _gain(donor, recipient, share)
        confidence = float(norm.cdf(gain / se)) if se > 0 else (1.0 if gain > 0 else 0.0)
        if gain <= 0 or confidence < MIN_CONFIDENCE:
            continue
        pair_spend = donor.recent_spend + recipient.recent_spend
        before = donor.revenue(donor.recent_spend) + recipient.revenue(recipient.recent_spend)
        roas_before, roas_after = before / pair_spend, (before + gain) / pair_spend
        lift = (roas_after / roas_before - 1) if roas_before > 0 else 0.0
        impact = gain * HORIZON_DAYS
        moved = share * donor.recent_spend
        severity = "high" if lift >= 0.05 and confidence >= 0.8 else "medium"
        insights.append({
            "type": "optimization", "severity": severity, "title": "Budget Reallocation Opportunity",
            "description": (
                f"Moving {round(share * 100)}% of budget ({format_money(moved, currency)}/day) from "
                f"{names[donor.campaign_id]} to {names[recipient.campaign_id]} could increase their combined ROAS "
                f"by {lift * 100:.1f}% ({roas_before:.2f} → {roas_after:.2f}): the next dollar returns "
                f"{donor.marginal_roas(donor.recent_spend):.2f} in {names[donor.campaign_id]} and "
                f"{recipient.marginal_roas(recipient.recent_spend):.2f} in {names[recipient.campaign_id]}, "
                f"according to response curves fitted to the last {min(donor.days, recipient.days)}+ days."),
            "potential_impact": f"+{format_money(round(impact), currency)} revenue",
            "confidence": round(confidence, 2),
            "entity": {"from_campaign_id": str(donor.campaign_id), "to_campaign_id": str(recipient.campaign_id)},
            "data": {
                "share_moved": share, "daily_amount_moved": round(moved, 2), "horizon_days": HORIZON_DAYS,
                "expected_revenue_gain": round(impact, 2), "standard_error": round(se * HORIZON_DAYS, 2),
                "roas_before": round(roas_before, 4), "roas_after": round(roas_after, 4),
                "marginal_roas_from": round(donor.marginal_roas(donor.recent_spend), 4),
                "marginal_roas_to": round(recipient.marginal_roas(recipient.recent_spend), 4),
                "fit_r_squared_from": round(donor.r_squared, 3), "fit_r_squared_to": round(recipient.r_squared, 3),
            },
        })
    return insights
