"""How fresh and complete the synced data is, per ad account and overall.

The freshness below is the trust engine's data_freshness input (the dashboard's signal health is the trust
engine's: trust/services/dashboard.py). Per active account:

    score = 100 − sync staleness − reporting lag − missing days          (clamped to 0 … 100)
    sync staleness = 2 points per hour since the last successful sync beyond 2 hours (at most 50)
    reporting lag  = 15 points per day the newest data is older than yesterday (at most 45)
    missing days   = 4 points per day without data in the last 30 days, between the account's first and
                     newest day with data in that window (at most 40; days after the newest are the lag)

An account never synced scores 0. The overall score is the mean of the accounts' scores; status is
healthy ≥ 70, degraded ≥ 40, unhealthy below (the trust layer's thresholds).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Count, Q
from django.utils import timezone

from stratum.api.cache import cache  # falls back to process memory while Redis is down

from ..models import AdAccount, AdAccountSyncRun, CampaignDailyMetric, SyncStatus
from .common import zone

THRESHOLDS = {"healthy": 70, "degraded": 40, "unhealthy": 0}
WINDOW_DAYS = 30


def health_status(score: int | None) -> str:
    if score is None:
        return "no_data"
    if score >= THRESHOLDS["healthy"]:
        return "healthy"
    return "degraded" if score >= THRESHOLDS["degraded"] else "unhealthy"


def account_freshness(*, account: AdAccount, now: dt.datetime, dates: set[dt.date]) -> dict:
    today = now.astimezone(zone(account.timezone)).date()
    window_start = today - dt.timedelta(days=WINDOW_DAYS)
    recent = {d for d in dates if window_start <= d <= today}
    latest = max(recent) if recent else None
    hours = None if account.last_synced_at is None else (now - account.last_synced_at).total_seconds() / 3600
    lag_days = (today - latest).days if latest else None
    missing: list[dt.date] = []
    if recent:
        day, last_checked = min(recent), min(latest, today - dt.timedelta(days=2))
        while day <= last_checked:
            if day not in recent:
                missing.append(day)
            day += dt.timedelta(days=1)
    if account.last_synced_at is None:
        score = 0
    else:
        staleness = min(50.0, max(0.0, hours - 2) * 2)
        lag = 45.0 if lag_days is None else min(45.0, max(0, lag_days - 1) * 15.0)
        score = round(max(0.0, min(100.0, 100 - staleness - lag - min(40, 4 * len(missing)))))
    return {
        "ad_account_id": str(account.pk), "name": account.name, "platform": account.platform,
        "last_synced_at": account.last_synced_at, "last_sync_error": account.last_sync_error or None,
        "hours_since_sync": None if hours is None else round(hours, 1),
        "latest_data_date": latest.isoformat() if latest else None, "reporting_lag_days": lag_days,
        "missing_days": [d.isoformat() for d in missing], "score": score, "status": health_status(score),
    }


def data_freshness(*, tenant, now: dt.datetime | None = None) -> list[dict]:
    """Freshness of every active ad account (two queries: accounts, and the days each has data for)."""
    now = now or timezone.now()
    accounts = list(AdAccount.objects.for_tenant(tenant).filter(is_active=True).order_by("platform", "name"))
    if not accounts:
        return []
    earliest = min(now.astimezone(zone(a.timezone)).date() for a in accounts) - dt.timedelta(days=WINDOW_DAYS)
    days: dict = defaultdict(set)
    for account_id, day in (CampaignDailyMetric.objects.for_tenant(tenant)
                            .filter(date__gte=earliest, campaign__ad_account__in=accounts)
                            .values_list("campaign__ad_account_id", "date").distinct()):
        days[account_id].add(day)
    return [account_freshness(account=a, now=now, dates=days[a.pk]) for a in accounts]


def cache_key(tenant) -> str:
    """Where the dashboard's signal health is cached (trust/services/dashboard.py): it changes when data arrives."""
    return f"campaigns:signal-health:{tenant.pk}"


def signal_health_invalidate(*, tenant) -> None:
    """Called after every sync attempt: freshness only changes when data arrives (or fails to)."""
    cache.delete(cache_key(tenant))


def sync_health(*, tenant, since: dt.datetime) -> dict[str, dict]:
    """Per ad account: sync attempts since `since`, how many failed and the error rate (0…1) — the trust
    engine's api-health input. One query."""
    rows = (AdAccountSyncRun.objects.for_tenant(tenant).filter(started_at__gte=since).exclude(status=SyncStatus.RUNNING)
            .values("ad_account_id").annotate(attempts=Count("id"), failed=Count("id", filter=Q(status=SyncStatus.FAILED))))
    return {str(r["ad_account_id"]): {"attempts": r["attempts"], "failed": r["failed"],
                                      "error_rate": r["failed"] / r["attempts"] if r["attempts"] else 0.0}
            for r in rows}
