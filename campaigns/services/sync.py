"""Pulling ad accounts from their platforms: campaigns, ads and daily insights, upserted in bulk.

Each attempt is an `AdAccountSyncRun` (ok or failed, with the platform's error code): the trust engine reads
the recent error rate and data freshness from them. Re-syncing a day replaces it: rows are upserted on
their unique day key, and rows in the window the platform no longer reports are removed.
"""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import NotificationCategory
from accounts.notifications import notification_send, tenant_admins
from stratum.api.entitlements import limit_enforce_locked
from stratum.api.params import local_today
from stratum.api.queueing import task_enqueue

from ..connectors import get_connector
from ..connectors.base import ConnectorError, InsightRecord
from ..errors import INTERNAL_ERROR, INTERRUPTED
from ..metrics import SUM_FIELDS
from ..models import Ad, AdAccount, AdAccountSyncRun, AdDailyMetric, Campaign, CampaignDailyMetric, SyncStatus
from ..selectors.health import signal_health_invalidate

logger = logging.getLogger("stratum.campaigns.sync")
BATCH = 2000
CAMPAIGN_FIELDS = ("name", "platform", "status", "objective", "budget_type", "budget_amount", "start_date",
                   "end_date", "targeting", "updated_at")
AD_FIELDS = ("name", "status", "creative_type", "headline", "primary_text", "creative_url", "updated_at")
RUNNING_FRESH = dt.timedelta(minutes=15)


def ad_account_upsert(*, tenant, platform: str, external_id: str, name: str, currency: str = "USD",
                      timezone_name: str = "UTC", client=None, connection_id=None) -> tuple[AdAccount, bool]:
    """Adds (or refreshes) an ad account; a new one counts against the plan's `max_ad_accounts`."""
    account = AdAccount.objects.for_tenant(tenant).filter(platform=platform, external_id=external_id).first()
    if account is None:
        with transaction.atomic():
            limit_enforce_locked(tenant=tenant, limit="max_ad_accounts",
                                 count=AdAccount.objects.for_tenant(tenant).filter(is_active=True).count)
            account = AdAccount.objects.for_tenant(tenant).filter(platform=platform, external_id=external_id).first()
            created = account is None
            if created:
                account = AdAccount.objects.for_tenant(tenant).create(
                    tenant=tenant, platform=platform, external_id=external_id, name=name, currency=currency,
                    timezone=timezone_name, client=client, connection_id=connection_id)
        if created:
            signal_health_invalidate(tenant=tenant)
            return account, True
    account.name, account.currency, account.timezone = name, currency, timezone_name
    if client is not None:
        account.client = client
    if connection_id is not None:
        account.connection_id = connection_id
    account.save()
    return account, False


def sync_window(*, ad_account: AdAccount, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """Default window: the first sync pulls CAMPAIGNS_SYNC_INITIAL_DAYS, later ones re-pull
    CAMPAIGNS_SYNC_LOOKBACK_DAYS before the last successful sync (platforms restate recent days)."""
    end = end or local_today(ad_account.timezone)
    if start is None:
        if ad_account.last_synced_at is None:
            start = end - dt.timedelta(days=settings.CAMPAIGNS_SYNC_INITIAL_DAYS - 1)
        else:
            last = timezone.localtime(ad_account.last_synced_at, _zone(ad_account)).date()
            start = min(last, end) - dt.timedelta(days=settings.CAMPAIGNS_SYNC_LOOKBACK_DAYS)
    if start > end:
        raise ValueError("sync window: start after end")
    return start, end


def _zone(ad_account: AdAccount):
    try:
        return zoneinfo.ZoneInfo(ad_account.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def ad_account_sync(*, tenant, ad_account: AdAccount, start: dt.date | None = None, end: dt.date | None = None,
                    trigger: str = "system") -> AdAccountSyncRun:
    """One sync attempt: fetch from the platform (outside any transaction), then write everything in one
    transaction. Platform failures are recorded on the run and the account (never raised); unexpected errors
    are recorded and re-raised."""
    if ad_account.tenant_id != tenant.pk:
        raise ValueError("ad account of another tenant")
    start, end = sync_window(ad_account=ad_account, start=start, end=end)
    started = timezone.now()
    run = AdAccountSyncRun.objects.for_tenant(tenant).create(
        tenant=tenant, ad_account=ad_account, trigger=trigger, status=SyncStatus.RUNNING, started_at=started,
        window_start=start, window_end=end)
    try:
        connector = get_connector(ad_account)
        campaigns = connector.list_campaigns(ad_account.external_id)
        ads = connector.list_ads(ad_account.external_id)
        insights = list(connector.daily_insights(ad_account.external_id, start, end))
        with transaction.atomic():
            AdAccount.objects.for_tenant(tenant).select_for_update().filter(pk=ad_account.pk).first()
            counts = _write(tenant=tenant, ad_account=ad_account, campaigns=campaigns, ads=ads, insights=insights,
                            start=start, end=end, started=started)
            finished = timezone.now()
            AdAccount.objects.for_tenant(tenant).filter(pk=ad_account.pk).update(
                last_synced_at=finished, last_sync_attempt_at=finished, last_sync_error="", updated_at=finished)
            for key, value in counts.items():
                setattr(run, key, value)
            run.status, run.finished_at = SyncStatus.OK, finished
            run.save()
            _close_interrupted(tenant=tenant, ad_account=ad_account, run=run, now=finished)
        ad_account.last_synced_at = ad_account.last_sync_attempt_at = finished
        ad_account.last_sync_error = ""
        signal_health_invalidate(tenant=tenant)
        return run
    except ConnectorError as exc:
        _fail(tenant=tenant, ad_account=ad_account, run=run, code=exc.code, message=str(exc))
        return run
    except Exception as exc:
        logger.exception("sync of ad account %s failed", ad_account.pk)
        _fail(tenant=tenant, ad_account=ad_account, run=run, code=INTERNAL_ERROR,
              message=f"{type(exc).__name__}: {exc}"[:1000])
        raise


def _fail(*, tenant, ad_account: AdAccount, run: AdAccountSyncRun, code: str, message: str) -> None:
    finished = timezone.now()
    was_failing = bool(AdAccount.objects.for_tenant(tenant).filter(pk=ad_account.pk)
                       .values_list("last_sync_error", flat=True).first())
    run.status, run.finished_at, run.error_code, run.error_message = SyncStatus.FAILED, finished, code[:64], message
    run.save()
    _close_interrupted(tenant=tenant, ad_account=ad_account, run=run, now=finished)
    error = f"{code}: {message}"
    AdAccount.objects.for_tenant(tenant).filter(pk=ad_account.pk).update(
        last_sync_attempt_at=finished, last_sync_error=error, updated_at=finished)
    ad_account.last_sync_attempt_at, ad_account.last_sync_error = finished, error
    signal_health_invalidate(tenant=tenant)
    if not was_failing:  # tell admins when an account starts failing, not on every retry
        notification_send(tenant=tenant, users=tenant_admins(tenant=tenant), category=NotificationCategory.SYNC_ALERTS,
                          title=f"Sync of {ad_account.name} ({ad_account.platform}) failed",
                          body=f"{message} (code {code}). Figures for this account may be out of date.",
                          data={"ad_account_id": str(ad_account.pk), "error_code": code})


def _close_interrupted(*, tenant, ad_account: AdAccount, run: AdAccountSyncRun, now: dt.datetime) -> int:
    """Earlier runs of the account still `running` when a later one ends were cut off — their worker died and the
    task was redelivered (acks late). They are closed as failed (INTERRUPTED) instead of showing as running for
    ever and holding off manual syncs."""
    return AdAccountSyncRun.objects.for_tenant(tenant).filter(
        ad_account=ad_account, status=SyncStatus.RUNNING, started_at__lt=run.started_at).exclude(pk=run.pk).update(
        status=SyncStatus.FAILED, finished_at=now, error_code=INTERRUPTED,
        error_message="The sync stopped before it finished (its worker died); a later sync ran in its place.")


def _write(*, tenant, ad_account: AdAccount, campaigns, ads, insights: list[InsightRecord], start: dt.date,
           end: dt.date, started: dt.datetime) -> dict[str, int]:
    now = timezone.now()
    Campaign.objects.for_tenant(tenant).bulk_create([
        Campaign(tenant=tenant, ad_account=ad_account, external_id=c.external_id, name=c.name[:255],
                 platform=ad_account.platform, status=c.status, objective=c.objective[:64],
                 budget_type=c.budget_type, budget_amount=c.budget_amount, start_date=c.start_date,
                 end_date=c.end_date, targeting=c.targeting or {}, created_at=now, updated_at=now)
        for c in campaigns
    ], update_conflicts=True, unique_fields=["ad_account", "external_id"], update_fields=CAMPAIGN_FIELDS,
        batch_size=BATCH)
    campaign_ids = dict(Campaign.objects.for_tenant(tenant).filter(ad_account=ad_account)
                        .values_list("external_id", "id"))
    ad_rows = [Ad(tenant=tenant, campaign_id=campaign_ids[a.campaign_external_id], external_id=a.external_id,
                  name=a.name[:255], status=a.status, creative_type=a.creative_type[:32], headline=a.headline[:255],
                  primary_text=a.primary_text, creative_url=a.creative_url[:1000], created_at=now, updated_at=now)
               for a in ads if a.campaign_external_id in campaign_ids]
    Ad.objects.for_tenant(tenant).bulk_create(ad_rows, update_conflicts=True, unique_fields=["campaign", "external_id"],
                                              update_fields=AD_FIELDS, batch_size=BATCH)
    ad_ids = {(campaign_id, external_id): pk for pk, campaign_id, external_id in Ad.objects.for_tenant(tenant)
              .filter(campaign__ad_account=ad_account).values_list("id", "campaign_id", "external_id")}
    campaign_rows, ad_metric_rows = _metric_rows(tenant=tenant, insights=insights, campaign_ids=campaign_ids,
                                                 ad_ids=ad_ids, start=start, end=end, now=now)
    metric_fields = list(SUM_FIELDS) + ["synced_at"]
    CampaignDailyMetric.objects.for_tenant(tenant).bulk_create(
        campaign_rows, update_conflicts=True, unique_fields=["campaign", "date"], update_fields=metric_fields,
        batch_size=BATCH)
    AdDailyMetric.objects.for_tenant(tenant).bulk_create(
        ad_metric_rows, update_conflicts=True, unique_fields=["ad", "date"], update_fields=metric_fields + ["campaign"],
        batch_size=BATCH)
    # Replace semantics: what the platform no longer reports for a day in the window goes.
    removed, _ = CampaignDailyMetric.objects.for_tenant(tenant).filter(
        campaign__ad_account=ad_account, date__range=(start, end), synced_at__lt=started).delete()
    removed_ads, _ = AdDailyMetric.objects.for_tenant(tenant).filter(
        campaign__ad_account=ad_account, date__range=(start, end), synced_at__lt=started).delete()
    return {"campaigns_upserted": len(campaigns), "ads_upserted": len(ad_rows),
            "rows_upserted": len(campaign_rows) + len(ad_metric_rows), "rows_removed": removed + removed_ads}


def _metric_rows(*, tenant, insights: Iterable[InsightRecord], campaign_ids: dict, ad_ids: dict, start: dt.date,
                 end: dt.date, now: dt.datetime) -> tuple[list[CampaignDailyMetric], list[AdDailyMetric]]:
    """Campaign-level rows as the platform reports them; where a platform reports only ad-level rows for a
    campaign and day, the campaign row is their sum. Rows outside the window or for unknown objects are skipped."""
    campaign_rows: dict[tuple, CampaignDailyMetric] = {}
    derived: dict[tuple, dict] = defaultdict(lambda: {f: 0 for f in SUM_FIELDS})
    ad_rows: dict[tuple, AdDailyMetric] = {}
    for row in insights:
        campaign_id = campaign_ids.get(row.campaign_external_id)
        if campaign_id is None or not start <= row.date <= end:
            continue
        values = {f: getattr(row, f) for f in SUM_FIELDS}
        if row.ad_external_id is None:
            campaign_rows[(campaign_id, row.date)] = CampaignDailyMetric(
                tenant=tenant, campaign_id=campaign_id, date=row.date, synced_at=now, **values)
            continue
        ad_id = ad_ids.get((campaign_id, row.ad_external_id))
        if ad_id is None:
            continue
        ad_rows[(ad_id, row.date)] = AdDailyMetric(tenant=tenant, ad_id=ad_id, campaign_id=campaign_id, date=row.date,
                                                   synced_at=now, **values)
        for key, value in values.items():
            derived[(campaign_id, row.date)][key] += value
    for (campaign_id, day), values in derived.items():
        if (campaign_id, day) not in campaign_rows:
            values = {k: (Decimal(v) if k in ("spend", "revenue", "conversions") else v) for k, v in values.items()}
            campaign_rows[(campaign_id, day)] = CampaignDailyMetric(
                tenant=tenant, campaign_id=campaign_id, date=day, synced_at=now, **values)
    return list(campaign_rows.values()), list(ad_rows.values())


def ad_accounts_sync_queue(*, tenant, ad_account: AdAccount | None = None, trigger: str = "manual") -> dict:
    """Queues a sync of one or every active ad account of the tenant (after commit). Accounts with a sync
    started in the last 15 minutes that has not finished are skipped."""
    accounts = AdAccount.objects.for_tenant(tenant).filter(is_active=True)
    if ad_account is not None:
        accounts = accounts.filter(pk=ad_account.pk)
    accounts = list(accounts.order_by("platform", "name"))
    busy = set(AdAccountSyncRun.objects.for_tenant(tenant).filter(
        ad_account__in=accounts, status=SyncStatus.RUNNING, started_at__gte=timezone.now() - RUNNING_FRESH,
    ).values_list("ad_account_id", flat=True))
    queued = [a for a in accounts if a.pk not in busy]
    for account in queued:
        task_enqueue(name="campaigns.tasks.ad_account_sync_task",
                     kwargs={"tenant_id": str(tenant.pk), "ad_account_id": str(account.pk), "trigger": trigger})
    return {"queued": [str(a.pk) for a in queued], "skipped": [str(a.pk) for a in accounts if a.pk in busy]}
