"""The dashboard's signal-health figure (`GET /dashboard/signal-health`, `signal_health` of the overview), in the
shape the dashboard has always answered: the trust engine's scores, with each account's freshness details.

Cached for SIGNAL_HEALTH_CACHE_SECONDS (the hours-since-sync part moves slowly) under campaigns' key, which campaigns
drops after every sync attempt."""
from __future__ import annotations

from typing import Any

from campaigns.selectors.health import cache_key
from stratum.api.cache import cache  # falls back to process memory while Redis is down

from .health import signal_health_current

SIGNAL_HEALTH_CACHE_SECONDS = 300

FRESHNESS_KEYS = ("last_synced_at", "last_sync_error", "hours_since_sync", "latest_data_date", "reporting_lag_days",
                  "missing_days")


def _freshness(account: dict) -> dict:
    details = next((s["details"] for s in account["signals"] if s["name"] == "data_freshness"), {})
    return {key: details.get(key) for key in FRESHNESS_KEYS} | {"missing_days": details.get("missing_days") or []}


def signal_health_dashboard(*, tenant) -> dict[str, Any]:
    health = signal_health_current(tenant=tenant)
    return {
        "overall_score": health["overall_score"],
        "status": health["status"],
        "signals": [{"name": s["name"], "score": s["score"], "status": s["status"]} for s in health["signals"]],
        "accounts": [{"ad_account_id": a["ad_account_id"], "name": a["name"], "platform": a["platform"],
                      **_freshness(a), "score": a["overall_score"], "status": a["status"]}
                     for a in health["accounts"]],
        "thresholds": health["thresholds"],
        "computed_at": health["computed_at"],
    }


def signal_health_summary(*, tenant) -> dict[str, Any]:
    """`signal_health_dashboard`, cached (see the module's note)."""
    cached = cache.get(cache_key(tenant))
    if cached is not None:
        return cached
    summary = signal_health_dashboard(tenant=tenant)
    cache.set(cache_key(tenant), summary, SIGNAL_HEALTH_CACHE_SECONDS)
    return summary
