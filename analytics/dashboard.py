"""The dashboard's overview: campaigns' figures of the period with the trust engine's signal health.

A read model that spans two contexts, so it lives here, above both (campaigns and trust do not import each other).
"""
from __future__ import annotations

from campaigns.selectors import dashboard_figures
from stratum.api.params import DateRange
from trust.services import signal_health_summary

HEADLINE = ("total_spend", "total_revenue", "roas", "conversions")


def dashboard_overview(*, tenant, date_range: DateRange) -> dict:
    """The spec's overview (total_spend, total_revenue, roas, conversions, signal_health, active_campaigns,
    platforms) plus the period, the currency and the change against the previous period of the same length."""
    figures = dashboard_figures(tenant=tenant, date_range=date_range)
    health = signal_health_summary(tenant=tenant)
    return {**{key: figures.pop(key) for key in HEADLINE},
            "signal_health": health["overall_score"], "signal_health_status": health["status"], **figures}
