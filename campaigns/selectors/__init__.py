"""Reads and aggregates of the campaigns app (keyword-only, tenant first), for the API and for other apps
(trust, analytics, workflow). Metric definitions: campaigns/metrics.py.

- `dashboard_figures(*, tenant, date_range) -> dict` (the overview's campaign figures), `dashboard_performance(*, tenant, date_range, platform=None)`
- `metric_totals(*, tenant, date_range, platform=None, campaign_ids=None, statuses=None, compare=False)
   -> (totals, previous_totals | None)` — sums and ratios in one query
- `platform_breakdown(*, tenant, date_range) -> {platform: {spend, revenue, conversions, roas, cpa}}`
- `data_freshness(*, tenant, now=None) -> [per account]`, `sync_health(*, tenant, since) -> {account_id: {...}}`
- `campaign_list`, `campaign_metrics_attach`, `campaign_detail`, `campaign_performance`, `campaign_analytics`
- `pacing_campaigns(*, tenant, campaign_ids=None, now=None) -> [per campaign]`, `pacing_alerts(*, tenant, ...)`
- `campaign_recommendations(*, tenant, campaign) -> dict`
"""
from .campaigns import (
    FIELD_ORDERINGS,
    METRIC_ORDERINGS,
    ORDERINGS,
    CampaignFilters,
    ad_accounts_list,
    campaign_analytics,
    campaign_detail,
    campaign_list,
    campaign_metrics_attach,
    campaign_performance,
    campaign_queryset,
    sync_runs_latest,
    with_metrics,
)
from .dashboard import daily_series, dashboard_figures, dashboard_performance, metric_totals, platform_breakdown
from .health import data_freshness, sync_health
from .pacing import campaign_pacing, pacing_alerts, pacing_campaigns, pacing_summary
from .recommendations import campaign_recommendations

__all__ = [
    "FIELD_ORDERINGS", "METRIC_ORDERINGS", "ORDERINGS", "CampaignFilters", "ad_accounts_list", "campaign_analytics",
    "campaign_detail", "campaign_list", "campaign_metrics_attach", "campaign_pacing", "campaign_performance",
    "campaign_queryset", "campaign_recommendations", "daily_series", "dashboard_figures", "dashboard_performance",
    "data_freshness", "metric_totals", "pacing_alerts", "pacing_campaigns", "pacing_summary", "platform_breakdown",
    "sync_health", "sync_runs_latest", "with_metrics",
]
