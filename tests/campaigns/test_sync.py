"""Sync: upserts, replace semantics, failures recorded and announced once, the task, the endpoint, the schedule."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import Notification
from campaigns.connectors.base import AdRecord, CampaignRecord, ConnectorAuthError
from campaigns.models import AdAccountSyncRun, AdDailyMetric, Campaign, CampaignDailyMetric
from campaigns.selectors import sync_health
from campaigns.services import ad_account_sync
from campaigns.tasks import ad_account_sync_task, ad_accounts_sync_all
from tests.accounts.factories import TenantFactory
from tests.campaigns.conftest import NOW, insight
from tests.campaigns.factories import AdAccountFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db
D1, D2 = dt.date(2026, 3, 16), dt.date(2026, 3, 17)


@pytest.fixture
def meta_account(tenant, fake_platform):
    fake_platform.campaigns = [CampaignRecord("c1", "Search", "active", "sales", "daily", Decimal("50"))]
    fake_platform.ads = [AdRecord("a1", "c1", "Ad one"), AdRecord("a2", "c1", "Ad two"), AdRecord("x", "zz", "Orphan")]
    fake_platform.insights = [
        insight(D1, "c1", spend=Decimal("30")), insight(D1, "c1", "a1", spend=Decimal("20")),
        insight(D1, "c1", "a2", spend=Decimal("10")),
        insight(D2, "c1", "a1", spend=Decimal("7"), clicks=3), insight(D2, "c1", "a2", spend=Decimal("8"), clicks=4),
    ]
    return AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1")


def test_sync_upserts_and_derives_campaign_rows(tenant, meta_account, scoped):
    run = ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D2, trigger="manual")
    assert (run.status, run.campaigns_upserted, run.ads_upserted, run.rows_upserted) == ("ok", 1, 2, 6)
    campaign = Campaign.objects.get(external_id="c1")
    assert campaign.name == "Search" and campaign.budget_amount == Decimal("50.00")
    rows = {r.date: r for r in CampaignDailyMetric.objects.filter(campaign=campaign)}
    assert rows[D1].spend == Decimal("30.00")  # as reported
    assert rows[D2].spend == Decimal("15.00") and rows[D2].clicks == 7  # derived from the ads
    meta_account.refresh_from_db()
    assert meta_account.last_synced_at == NOW and meta_account.last_sync_error == ""


def test_resync_is_idempotent_and_replaces_the_window(tenant, meta_account, fake_platform, scoped, time_machine):
    ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D2)
    ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D2)
    assert CampaignDailyMetric.objects.count() == 2 and AdDailyMetric.objects.count() == 4
    # The platform restates D2 (one ad dropped, a new figure) and D1 is outside the next window.
    time_machine.move_to(NOW + dt.timedelta(hours=1), tick=False)
    fake_platform.insights = [insight(D2, "c1", "a1", spend=Decimal("9"))]
    run = ad_account_sync(tenant=tenant, ad_account=meta_account, start=D2, end=D2)
    assert run.rows_removed == 1  # a2 on D2
    assert CampaignDailyMetric.objects.get(date=D2).spend == Decimal("9.00")
    assert CampaignDailyMetric.objects.get(date=D1).spend == Decimal("30.00")
    assert AdDailyMetric.objects.filter(date=D2).count() == 1


def test_failure_is_recorded_changes_nothing_and_notifies_once(tenant, user, meta_account, fake_platform, scoped):
    ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D2)
    fake_platform.fail_with = ConnectorAuthError("Error validating access token: session expired")
    fake_platform.fail_on = {"daily_insights"}
    fake_platform.campaigns = [CampaignRecord("c1", "Renamed", "paused")]
    for _ in range(2):
        run = ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D2)
        assert run.status == "failed" and run.error_code == "PLATFORM_AUTH_FAILED" and run.finished_at == NOW
    assert Campaign.objects.get().name == "Search"
    meta_account.refresh_from_db()
    assert meta_account.last_sync_error.startswith("PLATFORM_AUTH_FAILED: Error validating")
    assert meta_account.last_synced_at == NOW
    notes = Notification.objects.filter(category="sync_alerts")
    assert notes.count() == 1 and "session expired" in notes.get().body
    health = sync_health(tenant=tenant, since=NOW - dt.timedelta(days=1))[str(meta_account.pk)]
    assert health == {"attempts": 3, "failed": 2, "error_rate": 2 / 3}


def test_first_sync_window_and_lookback(tenant, meta_account, scoped):
    run = ad_account_sync(tenant=tenant, ad_account=meta_account)
    assert (run.window_start, run.window_end) == (dt.date(2026, 3, 18) - dt.timedelta(days=89), dt.date(2026, 3, 18))
    run = ad_account_sync(tenant=tenant, ad_account=meta_account)
    assert run.window_start == dt.date(2026, 3, 18) - dt.timedelta(days=settings.CAMPAIGNS_SYNC_LOOKBACK_DAYS)


def test_task_reenters_the_tenant_and_skips_foreign_ids(tenant, meta_account):
    assert ad_account_sync_task(str(tenant.pk), str(meta_account.pk)) == "ok"
    assert ad_account_sync_task(str(TenantFactory().pk), str(meta_account.pk)) is None  # not that tenant's account
    assert AdAccountSyncRun.objects.for_tenant(tenant).count() == 1


def test_periodic_sync_queues_every_active_account(tenant, meta_account, fake_platform,
                                                   django_capture_on_commit_callbacks):
    AdAccountFactory(tenant=tenant, platform="meta", external_id="act_2", is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert ad_accounts_sync_all() == 1
    assert AdAccountSyncRun.objects.for_tenant(tenant).get().trigger == "schedule"
    entry = settings.CELERY_BEAT_SCHEDULE["campaigns.ad_accounts_sync_all"]
    assert entry["task"] == "campaigns.tasks.ad_accounts_sync_all"
    assert entry["schedule"] == settings.CAMPAIGNS_SYNC_INTERVAL_MINUTES * 60.0


def test_sync_endpoint(api_client, tenant, meta_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/campaigns/sync", {}, format="json")
    assert response.status_code == 202 and response.json()["queued"] == [str(meta_account.pk)]
    status = api_client.get("/api/v1/campaigns/sync").json()
    assert status["runs"][0]["status"] == "ok" and status["runs"][0]["trigger"] == "manual"
    synced_at = status["accounts"][0]["last_synced_at"]
    assert synced_at.startswith("2026-03-18T15:00:00") and synced_at.endswith("Z")
    one = api_client.post("/api/v1/campaigns/sync", {"ad_account_id": str(meta_account.pk)}, format="json")
    assert one.json()["queued"] == [str(meta_account.pk)]
    foreign = AdAccountFactory(tenant=TenantFactory())
    assert_error(api_client.post("/api/v1/campaigns/sync", {"ad_account_id": str(foreign.pk)}, format="json"), 404)
    assert_error(api_client.post("/api/v1/campaigns/sync", {"everything": True}, format="json"), 422)


def test_a_running_sync_is_not_queued_twice(api_client, tenant, meta_account):
    AdAccountSyncRun.objects.for_tenant(tenant).create(tenant=tenant, ad_account=meta_account, status="running",
                                                       started_at=NOW - dt.timedelta(minutes=5))
    body = api_client.post("/api/v1/campaigns/sync", {}, format="json").json()
    assert body["queued"] == [] and body["skipped"] == [str(meta_account.pk)]


def test_seed_demo_is_idempotent_and_meaningful(api_client, user):
    call_command("seed_demo", email=user.email, only="campaigns", stdout=__import__("io").StringIO())
    first = api_client.get("/api/v1/dashboard/overview?period=30d").json()
    call_command("seed_demo", email=user.email, only="campaigns", stdout=__import__("io").StringIO())
    assert api_client.get("/api/v1/dashboard/overview?period=30d").json() == first
    campaigns = api_client.get("/api/v1/campaigns?limit=100").json()
    assert campaigns["total"] == 24
    assert 90 <= sum(c["ads_count"] for c in (api_client.get(f"/api/v1/campaigns/{i['id']}").json()
                                              for i in campaigns["items"])) <= 110
    assert first["active_campaigns"] == 22 and first["total_spend"] > 50000 and 2 < first["roas"] < 5
    assert first["signal_health"] < 100 and first["signal_health"] > 70  # Cedar Home's gap and delay show
    analytics = api_client.get("/api/v1/analytics/campaigns?period=30d&limit=100").json()
    assert round(sum(i["spend"] for i in analytics["items"]), 2) == first["total_spend"]
    alerts = api_client.get("/api/v1/pacing/alerts").json()["alerts"]
    assert {"underpacing", "overpacing"} <= {a["type"] for a in alerts}
    kinds = set()
    for item in campaigns["items"]:
        recs = api_client.get(f"/api/v1/campaigns/{item['id']}/recommendations").json()["recommendations"]
        kinds |= {r["type"] for r in recs}
    assert {"pause", "increase_budget", "refresh_creative", "pacing"} <= kinds
