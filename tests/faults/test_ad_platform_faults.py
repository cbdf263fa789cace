"""An ad platform answering 429, 5xx and timeouts during a sync (Meta's Marketing API over respx, shaped like its
documented errors): the client retries with back-off (Retry-After when given, else 1 s, 2 s, 4 s), a sync that gets
through is complete, one that does not is recorded — the run failed with the platform's error code, the account's
last error, one notification to the admins — and a long rate-limit wait is never slept through in a worker."""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from accounts.models import Notification
from campaigns.models import AdAccount, AdAccountSyncRun, Campaign, CampaignDailyMetric, SyncStatus
from campaigns.tasks import ad_account_sync_task
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import UserFactory
from tests.campaigns.factories import AdAccountFactory
from tests.integrations.factories import ConnectionFactory

GRAPH = "https://graph.facebook.com/v21.0"
DAY = date(2026, 3, 2)
THROTTLED = {"error": {"message": "(#17) User request limit reached", "type": "OAuthException", "code": 17,
                       "fbtrace_id": "AbC"}}
UNAVAILABLE = {"error": {"message": "An unexpected error has occurred. Please retry your request later.",
                         "type": "OAuthException", "is_transient": True, "code": 2, "fbtrace_id": "AbD"}}
CAMPAIGNS = {"data": [{"id": "120", "name": "Spring Sale", "status": "ACTIVE", "objective": "OUTCOME_SALES",
                       "daily_budget": "5000"}], "paging": {"cursors": {}}}
INSIGHT = {"campaign_id": "120", "impressions": "10500", "clicks": "312", "spend": "150.27",
           "actions": [{"action_type": "purchase", "value": "7"}],
           "action_values": [{"action_type": "purchase", "value": "700.10"}],
           "date_start": DAY.isoformat(), "date_stop": DAY.isoformat()}


@pytest.fixture(autouse=True)
def meta_app(settings):
    settings.META_CLIENT_ID, settings.META_CLIENT_SECRET = "meta-app", "meta-secret"
    settings.META_GRAPH_VERSION = "v21.0"


@pytest.fixture
def waits(monkeypatch):
    """Back-off waits the HTTP client would have slept (recorded, not slept)."""
    slept: list[float] = []
    monkeypatch.setattr("integrations.http.sleep", slept.append)
    return slept


@pytest.fixture
def account(tenant, user):
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="meta", scopes=["ads_read", "ads_management"])
        return AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1", name="Meta main",
                                connection_id=connection.pk, last_synced_at=None)


def sync(tenant, account) -> AdAccountSyncRun:
    """What the scheduled task does, for one day (eager Celery: the task runs here)."""
    with tenant_scope(tenant):
        AdAccount.objects.filter(pk=account.pk).update(last_synced_at=None)
    status = ad_account_sync_task(str(tenant.pk), str(account.pk))
    with tenant_scope(tenant):
        run = AdAccountSyncRun.objects.filter(ad_account=account).order_by("-started_at").first()
    assert run.status == status
    return run


def mock_meta(respx_mock, *, campaigns, insights=None):
    respx_mock.get(f"{GRAPH}/act_1").respond(200, json={"id": "act_1", "currency": "USD"})
    respx_mock.get(f"{GRAPH}/act_1/campaigns").mock(side_effect=campaigns)
    respx_mock.get(f"{GRAPH}/act_1/ads").respond(200, json={"data": [], "paging": {"cursors": {}}})
    return respx_mock.get(f"{GRAPH}/act_1/insights").mock(side_effect=insights or (
        lambda request: httpx.Response(200, json={"data": [INSIGHT] if "level=campaign" in str(request.url) else [],
                                                  "paging": {"cursors": {}}})))


@pytest.fixture(autouse=True)
def one_day(settings):
    settings.CAMPAIGNS_SYNC_INITIAL_DAYS = 1


@pytest.fixture
def today(time_machine):
    time_machine.move_to(f"{DAY.isoformat()}T18:00:00Z")


def test_429_5xx_and_a_timeout_are_retried_with_back_off_and_the_sync_completes(tenant, account, respx_mock, waits,
                                                                              today):
    route = mock_meta(respx_mock, campaigns=[
        httpx.Response(429, headers={"Retry-After": "3"}, text="Too Many Requests"),
        httpx.Response(500, json=UNAVAILABLE),
        httpx.ReadTimeout("timed out"),
        httpx.Response(200, json=CAMPAIGNS)])
    run = sync(tenant, account)
    assert run.status == SyncStatus.OK, (run.error_code, run.error_message)
    assert waits == [3.0, 2.0, 4.0]  # Retry-After honoured, then 1 s × 2^attempt
    assert route.call_count == 2  # ad and campaign level, each first time
    with tenant_scope(tenant):
        campaign = Campaign.objects.get(ad_account=account)
        metric = CampaignDailyMetric.objects.get(campaign=campaign)
    assert (campaign.name, campaign.budget_amount) == ("Spring Sale", Decimal("50.00"))
    assert (metric.date, metric.spend, metric.revenue, metric.conversions) == \
        (DAY, Decimal("150.27"), Decimal("700.10"), Decimal("7"))


def test_a_platform_that_stays_down_is_recorded_once_and_cleared_by_the_next_good_sync(tenant, user, account,
                                                                                      respx_mock, waits, today):
    admin = UserFactory(tenant=tenant, role="admin")
    mock_meta(respx_mock, campaigns=lambda request: httpx.Response(503, json=UNAVAILABLE))
    first = sync(tenant, account)
    assert (first.status, first.error_code) == (SyncStatus.FAILED, "PLATFORM_UNAVAILABLE")
    assert "An unexpected error has occurred" in first.error_message
    assert waits == [1.0, 2.0, 4.0]  # three retries, then the error is recorded
    second = sync(tenant, account)
    assert second.status == SyncStatus.FAILED and second.pk != first.pk
    with tenant_scope(tenant):
        account.refresh_from_db()
        alerts = list(Notification.objects.filter(category="sync_alerts").values_list("user_id", "title"))
    assert account.last_sync_error.startswith("PLATFORM_UNAVAILABLE: Meta: An unexpected error")
    assert sorted(user_id for user_id, _ in alerts) == sorted([user.pk, admin.pk])  # once each, not per retry
    assert all(title == "Sync of Meta main (meta) failed" for _, title in alerts)

    respx_mock.get(f"{GRAPH}/act_1/campaigns").mock(side_effect=None, return_value=httpx.Response(200, json=CAMPAIGNS))
    assert sync(tenant, account).status == SyncStatus.OK
    with tenant_scope(tenant):
        account.refresh_from_db()
    assert account.last_sync_error == "" and account.last_synced_at is not None


def test_timeouts_on_every_try_are_recorded_as_unreachable(tenant, account, respx_mock, waits, today):
    mock_meta(respx_mock, campaigns=httpx.ConnectTimeout("connect timed out"))
    run = sync(tenant, account)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "PLATFORM_UNREACHABLE")
    assert "could not reach the API (ConnectTimeout)" in run.error_message
    assert waits == [1.0, 2.0, 4.0]


def test_a_long_rate_limit_is_recorded_not_slept_through(tenant, account, respx_mock, waits, today):
    usage = {"act_1": [{"type": "ads_insights", "call_count": 100, "total_cputime": 30, "total_time": 30,
                        "estimated_time_to_regain_access": 7}]}
    mock_meta(respx_mock, campaigns=[httpx.Response(200, json=CAMPAIGNS)], insights=lambda request: httpx.Response(
        400, json=THROTTLED, headers={"X-Business-Use-Case-Usage": json.dumps(usage)}))
    run = sync(tenant, account)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "PLATFORM_RATE_LIMITED")
    assert waits == []  # seven minutes is not slept in a worker: the next scheduled sync comes back
    with tenant_scope(tenant):
        assert not CampaignDailyMetric.objects.filter(campaign__ad_account=account).exists()  # nothing half-written
        assert not Campaign.objects.filter(ad_account=account).exists()
    assert run.finished_at - run.started_at < timedelta(seconds=5)
