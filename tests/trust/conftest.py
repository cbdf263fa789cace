"""Fixtures of the trust engine's tests: a frozen clock, a scriptable ad platform (the outside world), and
builders for accounts with a chosen data quality, daily metrics, first-party conversions and stored signals."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from campaigns import connectors
from campaigns.connectors.base import AdPlatformConnector, ConnectorError
from campaigns.models import AdAccountSyncRun, CampaignDailyMetric
from cdp.models import Event
from stratum.api.tenancy import tenant_scope
from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.cdp.factories import ProfileFactory
from trust.models import SignalHealthSnapshot
from trust.services import autopilot_settings_get

# A Wednesday, 15:00 UTC. The signal window is 2026-03-11 … 2026-03-17 (tenant in UTC).
NOW = dt.datetime(2026, 3, 18, 15, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


class FakeConnector(AdPlatformConnector):
    """The ad platform: records every change it is asked for; `fail_with` makes it refuse."""

    platform = "meta"
    calls: list = []
    fail_with: ConnectorError | None = None

    def _change(self, *call):
        if FakeConnector.fail_with is not None:
            raise FakeConnector.fail_with
        FakeConnector.calls.append(call)

    def list_accounts(self):
        return []

    def list_campaigns(self, account_id):
        return []

    def list_ads(self, account_id):
        return []

    def daily_insights(self, account_id, start, end):
        return []

    def create_campaign(self, account_id, spec):
        raise ConnectorError("not in these tests")

    def update_campaign_status(self, account_id, campaign_id, status):
        self._change("status", campaign_id, status)

    def update_campaign_budget(self, account_id, campaign_id, amount):
        self._change("budget", campaign_id, amount)


@pytest.fixture(autouse=True)
def platform():
    previous = connectors._factories.get("meta")
    FakeConnector.calls, FakeConnector.fail_with = [], None
    connectors.register("meta", FakeConnector)
    yield FakeConnector
    if previous is None:
        connectors._factories.pop("meta", None)
    else:
        connectors._factories["meta"] = previous


def account(tenant, *, name="Main account", hours_since_sync: float = 1, runs=("ok",), platform="meta", **fields):
    """An active account (meta by default) synced `hours_since_sync` ago, with sync attempts of the last 24 h
    (newest last)."""
    synced = NOW - dt.timedelta(hours=hours_since_sync) if hours_since_sync is not None else None
    acc = AdAccountFactory(tenant=tenant, platform=platform, name=name, last_synced_at=synced, **fields)
    for i, status in enumerate(runs):
        at = NOW - dt.timedelta(hours=len(runs) - i)
        AdAccountSyncRun.objects.for_tenant(tenant).create(tenant=tenant, ad_account=acc, status=status, started_at=at,
                                                           finished_at=at + dt.timedelta(minutes=1),
                                                           error_code="" if status == "ok" else "PLATFORM_ERROR")
    return acc


def campaign(tenant, acc, *, name="Campaign", budget="100.00", status="active", **fields):
    return CampaignFactory(tenant=tenant, ad_account=acc, name=name, budget_amount=Decimal(budget), status=status,
                           platform=acc.platform, **fields)


def daily(tenant, camp, days, **values):
    """One metric row per day (days back from today: 0 = today) with the given values."""
    base = dict(impressions=10000, clicks=200, spend=Decimal("100"), conversions=Decimal("5"), revenue=Decimal("400"),
                landing_page_views=150, leads=0)
    rows = []
    for back in days:
        row = {**base, **{k: (Decimal(str(v)) if k in ("spend", "revenue", "conversions") else v)
                          for k, v in (values(back) if callable(values) else values).items()}}
        rows.append(CampaignDailyMetric(tenant=tenant, campaign=camp, date=TODAY - dt.timedelta(days=back), **row))
    CampaignDailyMetric.objects.for_tenant(tenant).bulk_create(rows)


def purchases(tenant, count: int, *, revenue="80.00", properties=None, days_ago: int = 2, event_type="purchase"):
    """First-party conversions (CDP events) inside the signal window."""
    profile = ProfileFactory(tenant=tenant)
    at = NOW - dt.timedelta(days=days_ago)
    Event.objects.for_tenant(tenant).bulk_create([
        Event(tenant=tenant, profile=profile, origin_profile_id=profile.pk, event_type=event_type, timestamp=at,
              received_at=at, revenue=Decimal(revenue) if revenue is not None else None,
              properties=dict(properties or {})) for _ in range(count)])


def stored_signal(tenant, statuses: dict, *, overall=None):
    """Stored, fresh signal health: {ad_account: (score, status)} for every active account of the tenant."""
    from tests.trust.factories import signals

    run = uuid.uuid4()
    for acc, (score, status) in statuses.items():
        SignalHealthSnapshot.objects.for_tenant(tenant).create(
            tenant=tenant, run_id=run, ad_account=acc, computed_at=NOW, trigger="manual", overall_score=score,
            status=status, signals=signals(score, status))
    score = overall or round(sum(s for s, _ in statuses.values()) / max(1, len(statuses)))
    status = "healthy" if score >= 70 else "degraded" if score >= 40 else "unhealthy"
    SignalHealthSnapshot.objects.for_tenant(tenant).create(
        tenant=tenant, run_id=run, ad_account=None, computed_at=NOW, trigger="manual", overall_score=score,
        status=status, signals=signals(score, status), details={"window": None})


@pytest.fixture
def autopilot_on(tenant):
    with tenant_scope(tenant):
        settings = autopilot_settings_get(tenant=tenant)
        settings.enabled, settings.mode = True, "balanced"
        settings.save()
    return settings
