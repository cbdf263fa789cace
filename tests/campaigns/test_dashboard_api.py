"""Dashboard overview / performance / signal health and campaign analytics: exact figures, bad input."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import AdAccount
from tests.campaigns.factories import AdAccountFactory, CampaignDailyMetricFactory, CampaignFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 18)


@pytest.fixture
def figures(tenant):
    synced = dt.datetime(2026, 3, 18, 14, tzinfo=dt.UTC)
    meta = AdAccountFactory(tenant=tenant, platform="meta", last_synced_at=synced)
    google = AdAccountFactory(tenant=tenant, platform="google", last_synced_at=synced)
    a = CampaignFactory(tenant=tenant, ad_account=meta, name="A")
    b = CampaignFactory(tenant=tenant, ad_account=google, name="B")
    CampaignFactory(tenant=tenant, ad_account=google, name="C", status="paused")
    rows = [(a, 0, "100", "400", 4), (a, 6, "50", "100", 1), (b, 3, "200", "300", 3), (b, 20, "80", "0", 0),
            (a, 35, "1000", "1000", 10)]
    for campaign, days_ago, spend, revenue, conversions in rows:
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=TODAY - dt.timedelta(days=days_ago),
                                   spend=Decimal(spend), revenue=Decimal(revenue), conversions=Decimal(conversions))
    return a, b


def test_overview_exact_figures(api_client, figures):
    body = api_client.get("/api/v1/dashboard/overview").json()
    assert (body["total_spend"], body["total_revenue"], body["conversions"]) == (430.0, 800.0, 8)
    assert body["roas"] == round(800 / 430, 2)
    assert body["active_campaigns"] == 2
    assert body["platforms"]["meta"] == {"spend": 150.0, "revenue": 500.0, "conversions": 5, "roas": 3.33, "cpa": 30.0}
    assert body["platforms"]["google"]["spend"] == 280.0 and "tiktok" not in body["platforms"]
    assert (body["start_date"], body["end_date"]) == ("2026-02-17", "2026-03-18")
    assert body["previous_period"]["total_spend"] == 1000.0
    assert body["changes"]["spend"] == -57.0
    assert isinstance(body["signal_health"], int) and body["currency"] == "USD"
    week = api_client.get("/api/v1/dashboard/overview?period=7d").json()
    assert week["total_spend"] == 350.0 and week["roas"] == round(800 / 350, 2)


def test_overview_uses_the_tenant_time_zone(api_client, tenant, figures):
    tenant.settings = {"timezone": "Pacific/Kiritimati", "currency": "USD"}  # UTC+14: already 2026-03-19
    tenant.save()
    assert api_client.get("/api/v1/dashboard/overview?period=1d").json()["end_date"] == "2026-03-19"


def test_performance_series(api_client, figures):
    body = api_client.get("/api/v1/dashboard/performance?start_date=2026-03-10&end_date=2026-03-18").json()
    assert len(body["series"]) == 9 and body["series"][0]["date"] == "2026-03-10"
    by_day = {p["date"]: p for p in body["series"]}
    assert by_day["2026-03-12"]["spend"] == 50.0 and by_day["2026-03-13"]["spend"] == 0.0
    assert by_day["2026-03-18"]["roas"] == 4.0
    assert body["totals"]["spend"] == 350.0 and body["totals"]["spend"] == sum(p["spend"] for p in body["series"])
    google = api_client.get("/api/v1/dashboard/performance?start_date=2026-03-10&platform=google").json()
    assert google["totals"]["spend"] == 200.0 and google["platforms"] is None


@pytest.mark.parametrize("url", [
    "/api/v1/dashboard/overview?period=0d", "/api/v1/dashboard/overview?period=1000d",
    "/api/v1/dashboard/overview?start_date=2026-03-18&end_date=2026-03-01",
    "/api/v1/dashboard/performance?start_date=yesterday", "/api/v1/dashboard/performance?platform=myspace",
    "/api/v1/dashboard/performance?start_date=2020-01-01&end_date=2026-01-01",
    "/api/v1/analytics/campaigns?period=30", "/api/v1/analytics/campaigns?ordering=id",
    "/api/v1/analytics/campaigns?limit=500", "/api/v1/analytics/campaigns?status=gone",
])
def test_bad_query_is_422(api_client, figures, url):
    assert_error(api_client.get(url), 422, "VALIDATION_ERROR")


def test_analytics_campaigns(api_client, figures):
    body = api_client.get("/api/v1/analytics/campaigns?period=30d").json()
    assert [i["name"] for i in body["items"]] == ["B", "A", "C"]  # by spend, descending
    assert body["items"][0] == {**body["items"][0], "spend": 280.0, "revenue": 300.0, "roas": round(300 / 280, 2)}
    assert body["totals"]["spend"] == 430.0 and body["total"] == 3 and body["limit"] == 20
    page = api_client.get("/api/v1/analytics/campaigns?period=30d&limit=1&page=2").json()
    assert [i["name"] for i in page["items"]] == ["A"] and page["pages"] == 3
    only_meta = api_client.get("/api/v1/analytics/campaigns?period=30d&platform=meta").json()
    assert only_meta["totals"]["spend"] == 150.0 and [i["name"] for i in only_meta["items"]] == ["A"]


def test_roas_is_the_same_everywhere_for_the_same_period(api_client, figures):
    a, _ = figures
    listed = {i["name"]: i for i in api_client.get("/api/v1/campaigns?period=30d").json()["items"]}
    analytics = {i["name"]: i for i in api_client.get("/api/v1/analytics/campaigns?period=30d").json()["items"]}
    performance = api_client.get(f"/api/v1/campaigns/{a.pk}/performance?period=30d").json()
    assert listed["A"]["roas"] == analytics["A"]["roas"] == performance["totals"]["roas"] == round(500 / 150, 2)
    overview = api_client.get("/api/v1/dashboard/overview?period=30d").json()
    dashboard = api_client.get("/api/v1/dashboard/performance?period=30d").json()
    assert overview["roas"] == dashboard["totals"]["roas"] == round(800 / 430, 2)
    assert overview["total_spend"] == sum(i["spend"] for i in analytics.values())


def test_signal_health_from_freshness(api_client, tenant, figures):
    stale = AdAccountFactory(tenant=tenant, platform="tiktok", name="Stale",
                             last_synced_at=dt.datetime(2026, 3, 17, 3, tzinfo=dt.UTC))
    campaign = CampaignFactory(tenant=tenant, ad_account=stale)
    for days_ago in (3, 4, 9, 10):  # newest data 3 days old; 5–8 missing
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=TODAY - dt.timedelta(days=days_ago))
    AdAccountFactory(tenant=tenant, platform="snapchat", name="Never synced")
    body = api_client.get("/api/v1/dashboard/signal-health").json()
    accounts = {a["name"]: a for a in body["accounts"]}
    s = accounts["Stale"]
    assert s["hours_since_sync"] == 36.0 and s["reporting_lag_days"] == 3
    assert s["missing_days"] == ["2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13"]
    # 100 − min(50, (36 − 2) × 2) − (3 − 1) × 15 − 4 × 4 = 4
    assert s["score"] == 4 and s["status"] == "unhealthy"
    assert accounts["Never synced"]["score"] == 0
    meta = next(a for a in body["accounts"] if a["platform"] == "meta")
    # synced an hour ago, data for today; 2026-03-13 … 16 missing since 2026-03-12
    assert meta["score"] == 84 and meta["status"] == "healthy" and meta["reporting_lag_days"] == 0
    google = next(a for a in body["accounts"] if a["platform"] == "google")
    # data on 2026-02-26 and 2026-03-15 only: 16 missing days (capped at 40 points), 3 days lag
    assert google["reporting_lag_days"] == 3 and len(google["missing_days"]) == 16 and google["score"] == 30
    assert body["overall_score"] == round((84 + 30 + 4 + 0) / 4)
    assert {"name": "data_freshness", "score": body["overall_score"], "status": body["status"]} in body["signals"]
    assert api_client.get("/api/v1/dashboard/overview").json()["signal_health"] == body["overall_score"]


def test_no_accounts_no_score(api_client):
    body = api_client.get("/api/v1/dashboard/signal-health").json()
    assert body["overall_score"] is None and body["status"] == "no_data" and body["accounts"] == []
    overview = api_client.get("/api/v1/dashboard/overview").json()
    assert overview["total_spend"] == 0 and overview["roas"] == 0 and overview["platforms"] == {}
    assert AdAccount.objects.unscoped().count() == 0


@pytest.mark.parametrize("url", ["/api/v1/dashboard/overview", "/api/v1/dashboard/performance",
                                 "/api/v1/analytics/campaigns"])
def test_periods_end_today_in_the_tenant_time_zone(api_client, tenant, figures, url):
    tenant.settings = {"timezone": "Pacific/Kiritimati", "currency": "USD"}  # UTC+14: already 2026-03-19
    tenant.save()
    body = api_client.get(f"{url}?period=7d").json()
    assert (body["start_date"], body["end_date"]) == ("2026-03-13", "2026-03-19")
    tenant.settings = {"timezone": "Pacific/Pago_Pago", "currency": "USD"}  # UTC−11: still 2026-03-18
    tenant.save()
    body = api_client.get(f"{url}?period=90d").json()
    assert (body["start_date"], body["end_date"]) == ("2025-12-19", "2026-03-18")


def test_analytics_campaigns_by_dates(api_client, figures):
    body = api_client.get("/api/v1/analytics/campaigns?start_date=2026-03-12&end_date=2026-03-15").json()
    assert (body["start_date"], body["end_date"], body["currency"]) == ("2026-03-12", "2026-03-15", "USD")
    items = {i["name"]: i for i in body["items"]}
    assert items["A"] == {**items["A"], "spend": 50.0, "revenue": 100.0, "roas": 2.0, "conversions": 1}
    assert items["B"] == {**items["B"], "spend": 200.0, "revenue": 300.0, "roas": 1.5, "conversions": 3}
    assert items["C"] == {**items["C"], "spend": 0.0, "roas": 0.0, "status": "paused", "budget": 100.0}
    assert body["totals"] == {**body["totals"], "spend": 250.0, "revenue": 400.0, "roas": 1.6, "conversions": 4}
    by_name = api_client.get("/api/v1/analytics/campaigns?period=30d&ordering=name&status=active").json()
    assert [i["name"] for i in by_name["items"]] == ["A", "B"] and by_name["totals"]["spend"] == 430.0


def test_list_endpoints_use_a_constant_number_of_queries(api_client, tenant):
    """Auth (user, tenant), then a fixed number of queries per endpoint whatever the page size."""
    for n in range(4):
        synced = dt.datetime(2026, 3, 18, 14, tzinfo=dt.UTC)
        account = AdAccountFactory(tenant=tenant, platform=["meta", "google"][n % 2], last_synced_at=synced)
        for m in range(8):
            campaign = CampaignFactory(tenant=tenant, ad_account=account, budget_amount=Decimal("100"))
            CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=TODAY, spend=Decimal(10 + 20 * m))
    budgets = {"/api/v1/analytics/campaigns?period=7d&limit={limit}": 5,
               "/api/v1/campaign-builder/accounts?limit={limit}": 4,
               "/api/v1/pacing/status?limit={limit}": 6}
    for url, budget in budgets.items():
        counts = []
        for limit in (2, 40):
            with CaptureQueriesContext(connection) as captured:
                assert api_client.get(url.format(limit=limit)).status_code == 200
            counts.append(len(captured))
        assert counts[0] == counts[1] <= budget, (url, counts)
