"""Anomalies in daily spend, conversions and CPA: seasonality-aware robust z-scores.

For a series (the account total, and each active campaign) the last 7 days with data are checked against the
56 days before them (the baseline). The expected value of a day is the median of the baseline's values on the
same weekday (weekly seasonality); the residual scale is the baseline residuals' median absolute deviation
× 1.4826 (a robust standard deviation). A day's score is

    z = (x − median_weekday − median(baseline residuals)) / (1.4826 · MAD(baseline residuals))

and |z| ≥ 3.5 marks an anomaly (Iglewicz & Hoaglin's cut-off for modified z-scores). Days without data are
missing, not zero (a platform that has not reported a day is a signal-health problem, not a spend drop); CPA is
defined only on days with conversions. A series needs ≥ 3 baseline values for every weekday; today (still
running) is never checked. `confidence` is 2Φ(|z|) − 1. Per series the strongest anomaly of the check window is reported; the 5 strongest overall are kept.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
from scipy.stats import norm

from campaigns.selectors.common import format_money

CHECK_DAYS = 7
BASELINE_DAYS = 56
THRESHOLD = 3.5
MIN_PER_WEEKDAY = 3
MAX_ANOMALIES = 5
# metric -> (direction that is bad news, unit)
METRICS = {"spend": (+1, "money"), "conversions": (-1, "count"), "cpa": (+1, "money")}


def robust_scores(points: dict[dt.date, float], check: list[dt.date]) -> dict[dt.date, tuple[float, float]] | None:
    """{day: (z, expected)} for the check days, or None when the baseline cannot support a score."""
    if not check:
        return None
    first_check = min(check)
    baseline = {d: v for d, v in points.items() if first_check - dt.timedelta(days=BASELINE_DAYS) <= d < first_check}
    by_weekday: dict[int, list[float]] = defaultdict(list)
    for day, value in baseline.items():
        by_weekday[day.weekday()].append(value)
    if len(by_weekday) < 7 or min(len(v) for v in by_weekday.values()) < MIN_PER_WEEKDAY:
        return None
    medians = {w: float(np.median(v)) for w, v in by_weekday.items()}
    residuals = np.array([v - medians[d.weekday()] for d, v in baseline.items()])
    center = float(np.median(residuals))
    scale = 1.4826 * float(np.median(np.abs(residuals - center)))
    if scale <= 0:
        return None
    return {day: ((points[day] - medians[day.weekday()] - center) / scale, medians[day.weekday()] + center)
            for day in check if day in points}


def _series(rows: list[tuple]) -> dict[str, dict[dt.date, float]]:
    """rows: (date, spend, revenue, conversions) → per metric {date: value}."""
    out: dict[str, dict] = {"spend": {}, "conversions": {}, "cpa": {}}
    for date, spend, _, conversions in rows:
        out["spend"][date] = spend
        out["conversions"][date] = conversions
        if conversions > 0:
            out["cpa"][date] = spend / conversions
    return out


def _describe(metric: str, scope: str, day: dt.date, value: float, expected: float, z: float, currency: str) -> tuple:
    unit = METRICS[metric][1]
    show = (lambda v: format_money(round(v, 2), currency)) if unit == "money" else (lambda v: f"{v:,.0f}")
    direction = "above" if value > expected else "below"
    label = {"spend": "Spend", "conversions": "Conversions", "cpa": "CPA"}[metric]
    text = (f"{label} of {scope} on {day.isoformat()} ({day:%A}) was {show(value)}, {direction} the {show(expected)} "
            f"expected for a {day:%A} (robust z-score {z:+.1f}; baseline: the {BASELINE_DAYS} days before).")
    delta = value - expected
    name = label.lower() if metric != "cpa" else "CPA"
    impact = f"{'+' if delta >= 0 else '−'}{show(abs(delta))} {name} vs expected"
    return label, text, impact


def anomaly_insights(*, series_by_scope: dict, names: dict, currency: str, today: dt.date) -> list[dict]:
    """series_by_scope: {scope_key: rows}; scope_key None is the account total, else a campaign id. Today is
    still running, so the check window ends yesterday at the latest."""
    found = []
    for scope_key, rows in series_by_scope.items():
        complete = [r for r in rows if r[0] < today]
        if not complete:
            continue
        rows = complete
        last_day = max(r[0] for r in rows)
        check = [last_day - dt.timedelta(days=i) for i in range(CHECK_DAYS)]
        for metric, points in _series(rows).items():
            scores = robust_scores(points, check)
            if not scores:
                continue
            day, (z, expected) = max(scores.items(), key=lambda item: abs(item[1][0]))
            if abs(z) < THRESHOLD:
                continue
            bad = METRICS[metric][0] * z > 0
            severity = ("high" if abs(z) >= 6 else "medium") if bad else "low"
            scope = "all campaigns" if scope_key is None else names.get(scope_key, "a campaign")
            label, text, impact = _describe(metric, scope, day, points[day], expected, z, currency)
            found.append({
                "type": "anomaly", "severity": severity,
                "title": f"{label} {'spike' if z > 0 else 'drop'}: {scope}",
                "description": text, "potential_impact": impact,
                "confidence": round(float(2 * norm.cdf(abs(z)) - 1), 3),
                "entity": {"campaign_id": None if scope_key is None else str(scope_key)},
                "data": {"metric": metric, "date": day.isoformat(), "value": round(points[day], 2),
                         "expected": round(expected, 2), "z_score": round(z, 2), "threshold": THRESHOLD},
            })
    found.sort(key=lambda item: -abs(item["data"]["z_score"]))
    return found[:MAX_ANOMALIES]
