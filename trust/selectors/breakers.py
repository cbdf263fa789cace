"""What trips a circuit breaker on an ad account (two queries for all accounts of a tenant):

- spend spike: yesterday's spend, or today's spend so far, is more than SPIKE_FACTOR × the account's mean daily
  spend over the SPIKE_BASELINE_DAYS before yesterday (days with data; at least SPIKE_MIN_BASELINE_DAYS of them)
  and at least SPIKE_MIN_EXCESS above that mean. Days up to the day a human last resumed the breaker don't count.
- connector errors: the account's last ERROR_RUN finished sync attempts all failed, or its last ERROR_RUN
  automated executions all failed at the platform (an execution rolled back since succeeded) — counting only
  attempts after the last resume.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import RowNumber

from campaigns.models import AdAccountSyncRun, CampaignDailyMetric, SyncStatus
from campaigns.selectors.common import zone

from ..models import ActionStatus, AutopilotAction

SPIKE_FACTOR = 3.0
SPIKE_BASELINE_DAYS = 14
SPIKE_MIN_BASELINE_DAYS = 7
SPIKE_MIN_EXCESS = 50.0
ERROR_RUN = 3


def spend_spikes(*, tenant, accounts, now: dt.datetime, resumed: dict[str, dt.datetime]) -> dict[str, dict]:
    """{ad_account_id: details} for each account whose spend spiked."""
    tz = zone(tenant.timezone)
    today = now.astimezone(tz).date()
    yesterday = today - dt.timedelta(days=1)
    base_start = yesterday - dt.timedelta(days=SPIKE_BASELINE_DAYS)
    baseline = Q(date__range=(base_start, yesterday - dt.timedelta(days=1)))
    rows = (CampaignDailyMetric.objects.for_tenant(tenant)
            .filter(date__range=(base_start, today), campaign__ad_account__in=accounts)
            .values("campaign__ad_account_id")
            .annotate(today=Sum("spend", filter=Q(date=today)), yesterday=Sum("spend", filter=Q(date=yesterday)),
                      baseline=Sum("spend", filter=baseline),
                      baseline_days=Count("date", filter=baseline & Q(spend__gt=0), distinct=True)))
    spikes: dict[str, dict] = {}
    for row in rows:
        account_id = str(row["campaign__ad_account_id"])
        days = row["baseline_days"]
        if days < SPIKE_MIN_BASELINE_DAYS:
            continue
        mean = float(row["baseline"] or 0) / days
        since = resumed.get(account_id)
        since_day = since.astimezone(tz).date() if since else None
        for day, value in ((yesterday, row["yesterday"]), (today, row["today"])):
            spend = float(value or 0)
            if since_day is not None and day <= since_day:
                continue
            if mean > 0 and spend > SPIKE_FACTOR * mean and spend - mean >= SPIKE_MIN_EXCESS:
                spikes[account_id] = {"date": day.isoformat(), "spend": round(spend, 2),
                                      "baseline_mean": round(mean, 2), "factor": round(spend / mean, 2)}
                break
    return spikes


def _failing(rows, resumed: dict[str, dt.datetime], *, account_key: str, time_key: str, failed) -> dict[str, list]:
    runs: dict[str, list] = {}
    for row in rows:
        runs.setdefault(str(row[account_key]), []).append(row)
    failing = {}
    for account_id, latest in runs.items():
        since = resumed.get(account_id)
        latest = [r for r in latest if since is None or r[time_key] > since]
        if len(latest) >= ERROR_RUN and all(failed(r) for r in latest[:ERROR_RUN]):
            failing[account_id] = latest[:ERROR_RUN]
    return failing


def connector_error_runs(*, tenant, accounts, resumed: dict[str, dt.datetime]) -> dict[str, dict]:
    """{ad_account_id: details} for each account whose last attempts all failed."""
    ranked = Window(RowNumber(), partition_by=[F("ad_account_id")], order_by=F("started_at").desc())
    syncs = (AdAccountSyncRun.objects.for_tenant(tenant).filter(ad_account__in=accounts).exclude(status=SyncStatus.RUNNING)
             .annotate(rank=ranked).filter(rank__lte=ERROR_RUN)
             .values("ad_account_id", "started_at", "status", "error_code").order_by("ad_account_id", "-started_at"))
    found = {a: {"sync_failures": [{"at": r["started_at"].isoformat(), "error_code": r["error_code"]} for r in rows]}
             for a, rows in _failing(syncs, resumed, account_key="ad_account_id", time_key="started_at",
                                     failed=lambda r: r["status"] == SyncStatus.FAILED).items()}
    ranked = Window(RowNumber(), partition_by=[F("ad_account_id")], order_by=F("executed_at").desc())
    executions = (AutopilotAction.objects.for_tenant(tenant)
                  .filter(ad_account__in=accounts, status__in=(ActionStatus.EXECUTED, ActionStatus.FAILED, ActionStatus.ROLLED_BACK),
                          executed_at__isnull=False)
                  .annotate(rank=ranked).filter(rank__lte=ERROR_RUN)
                  .values("ad_account_id", "executed_at", "status", "error").order_by("ad_account_id", "-executed_at"))
    for account_id, rows in _failing(executions, resumed, account_key="ad_account_id", time_key="executed_at",
                                     failed=lambda r: r["status"] == ActionStatus.FAILED).items():
        found.setdefault(account_id, {})["execution_failures"] = [
            {"at": r["executed_at"].isoformat(), "error": r["error"][:200]} for r in rows]
    return found
