"""The console's home page: the figures of `/superadmin/analytics/overview` from the same selector
(analytics.platform.platform_overview, read with the same parameters), drawn over time as inline SVG, and the
operations panel (console.selectors.operations_panel)."""
from __future__ import annotations

from analytics.platform import INTERVALS, overview_params, platform_overview
from stratum.api.exceptions import ApiError

from .charts import chart_svg
from .selectors import operations_panel, since, staff_actions_recent


def _per_currency(points: list[dict[str, float]]) -> dict[str, list[float]]:
    currencies = sorted({currency for point in points for currency in point})
    return {currency: [point.get(currency, 0.0) for point in points] for currency in currencies}


def _charts(overview: dict) -> list[dict]:
    series = overview["series"]
    interval = overview["range"]["interval"]
    labels = [row["period_start"][:7] if interval == "month" else row["period_start"][5:] for row in series]
    specs = [
        ("tenants", "Tenants", {"Tenants": [row["tenants"] for row in series]}, "line"),
        ("new_tenants", "New tenants", {"New tenants": [row["new_tenants"] for row in series]}, "bar"),
        ("mrr", "MRR per currency", _per_currency([row["mrr"] for row in series]), "line"),
        ("events", "Events ingested", {"Events ingested": [row["events_ingested"] for row in series]}, "bar"),
        ("spend", "Ad spend managed per currency", _per_currency([row["ad_spend_managed"] for row in series]),
         "bar"),
    ]
    return [{"key": key, "title": title, "svg": chart_svg(key=key, title=title, labels=labels, series=data,
                                                           kind=kind)} for key, title, data, kind in specs]


def overview_context(request) -> dict:
    error = ""
    try:
        date_range, interval = overview_params(request.GET)
    except ApiError as exc:
        error = "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in (exc.errors or {}).items()) \
            or str(exc.detail)
        date_range, interval = overview_params({})
    overview = platform_overview(date_range=date_range, interval=interval)
    operations = operations_panel()
    return {
        "overview": overview,
        "overview_error": error,
        "intervals": INTERVALS,
        "query": {key: request.GET.get(key, "") for key in ("period", "start_date", "end_date", "interval")},
        "charts": _charts(overview),
        "operations": operations,
        "outbox_oldest": since(operations["outbox"]["oldest_age_seconds"]),
        "staff_actions": staff_actions_recent(),
    }
