"""`GET /analytics/ai/insights`: every insight derived from the tenant's data, with the statistics behind it.

Kinds (`type`): optimization (budget reallocation, reallocation.py), anomaly (anomalies.py), creative_fatigue
(fatigue.py), pacing (the campaigns app's pacing alerts) and signal_health (accounts whose data freshness score
is degraded or unhealthy). `confidence` is the statistical confidence of an estimate; pacing and signal health
are measurements, not estimates, so theirs is 1.0 (MEASURED: the figure is observed, not inferred). Sorted by
severity, then confidence.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import Max
from django.utils import timezone

from campaigns.metrics import metric_sums
from campaigns.models import Campaign, CampaignDailyMetric, CampaignStatus
from campaigns.selectors import pacing_alerts
from campaigns.selectors.common import format_money
from stratum.api.params import DateRange, local_today
from trust.services import signal_health_current

from .anomalies import BASELINE_DAYS, CHECK_DAYS, anomaly_insights
from .curves import HISTORY_DAYS, curves_fit, daily_rows, rows_within
from .fatigue import fatigue_insights
from .reallocation import reallocation_insights

INSIGHT_TYPES = ("optimization", "anomaly", "creative_fatigue", "pacing", "signal_health")
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
MEASURED = 1.0  # the confidence of an observed figure (pacing, signal health): nothing about it is estimated


def _pacing(*, tenant) -> list[dict]:
    out = []
    for alert in pacing_alerts(tenant=tenant):
        gap = float(alert["actual_spend"] or 0) - float(alert["expected_spend"] or 0)
        out.append({
            "type": "pacing", "severity": "high" if alert["severity"] == "critical" else "medium",
            "title": f"Campaign is {alert['type']}: {alert['campaign_name']}",
            "description": f"{alert['message']} {alert['recommendation']}".strip(),
            "potential_impact": f"{'+' if gap >= 0 else '−'}{format_money(abs(round(gap, 2)), alert['currency'])} "
                                f"spend vs plan",
            "confidence": MEASURED,
            "entity": {"campaign_id": alert["campaign_id"]},
            "data": {"expected_spend": alert["expected_spend"], "actual_spend": alert["actual_spend"],
                     "deviation_percent": alert["deviation_percent"], "window": alert["window"]},
        })
    return out


COMPONENT_LABELS = {"pixel_coverage": "pixel coverage", "conversion_accuracy": "conversion accuracy",
                    "data_freshness": "data freshness", "api_health": "API health"}


def _freshness_problems(details: dict) -> list[str]:
    problems = []
    if details.get("hours_since_sync") is None:
        problems.append("never synced")
    elif details["hours_since_sync"] > 2:
        problems.append(f"last successful sync {details['hours_since_sync']:.0f} h ago")
    if (details.get("reporting_lag_days") or 0) > 1:
        problems.append(f"newest data is {details['reporting_lag_days']} days old")
    if details.get("missing_days"):
        problems.append(f"{len(details['missing_days'])} day(s) without data in the last 30 days")
    if details.get("last_sync_error"):
        problems.append(f"last sync error: {str(details['last_sync_error'])[:200]}")
    return problems


def _signal_health(*, tenant) -> list[dict]:
    """Accounts whose trust-engine signal health is degraded or unhealthy, with the weak components."""
    out = []
    for account in signal_health_current(tenant=tenant)["accounts"]:
        if account["status"] not in ("degraded", "unhealthy"):
            continue
        weak = [s for s in account["signals"] if s["status"] in ("degraded", "unhealthy")]
        problems = []
        for signal in weak:
            text = f"{COMPONENT_LABELS.get(signal['name'], signal['name'])} {signal['score']}/100"
            if signal["name"] == "data_freshness":
                text += "".join(f"; {p}" for p in _freshness_problems(signal["details"]))
            problems.append(text)
        out.append({
            "type": "signal_health", "severity": "high" if account["status"] == "unhealthy" else "medium",
            "title": f"Signal health {account['status']}: {account['name']}",
            "description": (f"Signal health {account['overall_score']}/100 for {account['name']} "
                            f"({account['platform']}): {'; '.join(problems) or 'see the trust layer'}. Figures that "
                            f"depend on this account may be incomplete, and automation holds back."),
            "potential_impact": None, "confidence": MEASURED,
            "entity": {"ad_account_id": account["ad_account_id"]},
            "data": {"score": account["overall_score"],
                     "components": {s["name"]: s["score"] for s in account["signals"]}},
        })
    return out


def _complete_through(*, tenant, today: dt.date) -> dt.date | None:
    """The newest day every account that reported in the last 14 days has reported (totals are complete)."""
    latest = (CampaignDailyMetric.objects.for_tenant(tenant).filter(date__gte=today - dt.timedelta(days=14))
              .values("campaign__ad_account_id").annotate(last=Max("date")).values_list("last", flat=True))
    return min(latest, default=None)


def _anomaly_window(today: dt.date) -> DateRange:
    return DateRange(today - dt.timedelta(days=BASELINE_DAYS + CHECK_DAYS + 14), today)


def _anomaly_series(*, tenant, today: dt.date, active: dict, daily: dict) -> dict:
    """{None: the account's daily totals (summed in SQL, only through the newest complete day), campaign id: its
    daily rows (active campaigns; from `daily`, read once for every insight)}."""
    window = _anomaly_window(today)
    complete = _complete_through(tenant=tenant, today=today)
    series: dict = {None: []}
    if complete is not None:
        totals = (CampaignDailyMetric.objects.for_tenant(tenant)
                  .filter(date__range=(window.start, min(window.end, complete)))
                  .values("date").annotate(**metric_sums(fields=("spend", "revenue", "conversions"), suffix="_sum"))
                  .order_by("date"))
        series[None] = [(r["date"], float(r["spend_sum"]), float(r["revenue_sum"]), float(r["conversions_sum"]))
                        for r in totals]
    series.update(rows_within(daily, window))
    return series


def insights_list(*, tenant, types: list[str] | None = None) -> dict:
    today = local_today(tenant.timezone)
    wanted = set(types or INSIGHT_TYPES)
    active = dict(Campaign.objects.for_tenant(tenant).filter(status=CampaignStatus.ACTIVE).values_list("pk", "name"))
    names = dict(Campaign.objects.for_tenant(tenant).values_list("pk", "name"))
    has_data = CampaignDailyMetric.objects.for_tenant(tenant).exists()
    insights: list[dict] = []
    daily: dict = {}
    if has_data and wanted & {"optimization", "anomaly"}:  # the active campaigns' daily rows, read once for both
        start = min(today - dt.timedelta(days=HISTORY_DAYS), _anomaly_window(today).start)
        daily = daily_rows(tenant=tenant, date_range=DateRange(start, today), campaign_ids=list(active))
    if has_data and "optimization" in wanted:
        curves = curves_fit(tenant=tenant, today=today, campaign_ids=list(active), series=daily)
        insights += reallocation_insights(curves=curves, names=active, currency=tenant.currency)
    if has_data and "anomaly" in wanted:
        insights += anomaly_insights(series_by_scope=_anomaly_series(tenant=tenant, today=today, active=active,
                                                                     daily=daily),
                                     names=names, currency=tenant.currency, today=today)
    if has_data and "creative_fatigue" in wanted:
        insights += fatigue_insights(tenant=tenant, today=today, campaign_names=active)
    if "pacing" in wanted:
        insights += _pacing(tenant=tenant)
    if "signal_health" in wanted:
        insights += _signal_health(tenant=tenant)
    insights.sort(key=lambda i: (SEVERITY_RANK[i["severity"]], -i["confidence"], i["type"], i["title"]))
    counts = {kind: sum(1 for i in insights if i["type"] == kind) for kind in INSIGHT_TYPES if kind in wanted}
    return {
        "insights": insights, "counts": counts, "generated_at": timezone.now(), "currency": tenant.currency,
        "insufficient_data": not has_data,
        "message": None if has_data else "No campaign data yet: connect an ad account to get insights.",
    }
