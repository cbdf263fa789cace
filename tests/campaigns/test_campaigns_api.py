"""Campaign list / detail / performance / recommendations, PATCH and DELETE through the platform."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from campaigns.connectors.base import ConnectorError, ConnectorRateLimited
from campaigns.models import Campaign
from stratum.api.models import OutboxEvent
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import (
    AdAccountFactory,
    AdDailyMetricFactory,
    AdFactory,
    CampaignDailyMetricFactory,
    CampaignFactory,
)
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db
LIST_KEYS = {"id", "name", "platform", "status", "budget", "spend", "revenue", "roas", "conversions", "created_at"}


@pytest.fixture
def two_campaigns(tenant, frozen):
    meta = AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1")
    summer = CampaignFactory(tenant=tenant, ad_account=meta, name="Summer Sale", budget_amount=Decimal("5000"))
    winter = CampaignFactory(tenant=tenant, name="Winter Push", status="paused", budget_amount=Decimal("80"))
    for offset, spend, revenue in ((1, "100.00", "450.00"), (2, "200.00", "500.00"), (40, "1000.00", "0")):
        CampaignDailyMetricFactory(tenant=tenant, campaign=summer,
                                   date=dt.date(2026, 3, 18) - dt.timedelta(days=offset), spend=Decimal(spend),
                                   revenue=Decimal(revenue), conversions=Decimal("3"), clicks=30, impressions=3000)
    CampaignDailyMetricFactory(tenant=tenant, campaign=winter, date=dt.date(2026, 3, 10), spend=Decimal("50"),
                               revenue=Decimal("25"), conversions=Decimal("1"))
    return summer, winter


def test_list_shape_and_lifetime_figures(api_client, two_campaigns):
    summer, winter = two_campaigns
    body = api_client.get("/api/v1/campaigns").json()
    assert body["total"] == 2 and body["page"] == 1 and body["pages"] == 1 and body["limit"] == 20
    items = {i["name"]: i for i in body["items"]}
    assert LIST_KEYS <= set(items["Summer Sale"])
    s = items["Summer Sale"]
    assert (s["budget"], s["spend"], s["revenue"], s["conversions"]) == (5000.0, 1300.0, 950.0, 9)
    assert s["roas"] == round(950 / 1300, 2) and s["platform"] == "meta" and s["status"] == "active"
    assert s["created_at"].endswith("Z")
    assert items["Winter Push"]["roas"] == 0.5


def test_list_period_filter_and_ordering(api_client, two_campaigns):
    body = api_client.get("/api/v1/campaigns?period=7d&ordering=-roas").json()
    assert [i["name"] for i in body["items"]] == ["Summer Sale", "Winter Push"]
    assert body["items"][0]["spend"] == 300.0 and body["items"][0]["roas"] == round(950 / 300, 2)
    assert body["items"][1]["spend"] == 0.0 and body["items"][1]["roas"] == 0.0
    # Paged first, summed after: a campaign without rows in the period has every figure, as zeros.
    winter = api_client.get("/api/v1/campaigns?period=7d&status=paused").json()["items"][0]
    assert list(winter) == list(body["items"][1])
    assert {k: winter[k] for k in ("spend", "revenue", "roas", "conversions", "clicks", "impressions", "cpa")} == {
        "spend": 0.0, "revenue": 0.0, "roas": 0.0, "conversions": 0, "clicks": 0, "impressions": 0, "cpa": 0.0}
    by_spend = api_client.get("/api/v1/campaigns?ordering=spend").json()["items"]
    assert [i["name"] for i in by_spend] == ["Winter Push", "Summer Sale"]
    by_name = api_client.get("/api/v1/campaigns?ordering=-name").json()["items"]
    assert [i["name"] for i in by_name] == ["Winter Push", "Summer Sale"]


def test_list_filters(api_client, two_campaigns):
    summer, winter = two_campaigns
    get = lambda q: [i["name"] for i in api_client.get(f"/api/v1/campaigns?{q}").json()["items"]]
    assert get("status=active") == ["Summer Sale"]
    assert sorted(get("status=active,paused")) == ["Summer Sale", "Winter Push"]
    assert get("platform=meta") == ["Summer Sale"]
    assert get("platform=tiktok") == []
    assert get("search=winter") == ["Winter Push"]
    assert get(f"ad_account_id={summer.ad_account_id}") == ["Summer Sale"]
    assert get("search=%27%3B%20DROP%20TABLE%20campaigns_campaign%3B--") == []


@pytest.mark.parametrize("query,field", [
    ("status=running", "status"), ("platform=myspace", "platform"), ("ordering=password", "ordering"),
    ("limit=101", "limit"), ("limit=0", "limit"), ("page=abc", "page"), ("period=7w", "period"),
    ("start_date=2026-03-10&end_date=2026-03-01", "start_date"), ("start_date=2026-13-01", "start_date"),
    ("period=7d&start_date=2026-03-01", "period"), ("ad_account_id=nope", "ad_account_id"),
    ("search=" + "x" * 201, "search"),
])
def test_list_bad_input_is_422(api_client, two_campaigns, query, field):
    body = assert_error(api_client.get(f"/api/v1/campaigns?{query}"), 422, "VALIDATION_ERROR")
    assert field in body["errors"]


def test_list_query_count_is_constant(api_client, tenant, frozen, django_assert_max_num_queries):
    account = AdAccountFactory(tenant=tenant)
    for _n in range(30):
        campaign = CampaignFactory(tenant=tenant, ad_account=account)
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=dt.date(2026, 3, 1))
    for limit in (2, 30):
        # auth (user, tenant), count, page, metrics of the page
        with django_assert_max_num_queries(6):
            assert len(api_client.get(f"/api/v1/campaigns?limit={limit}").json()["items"]) == limit
        with django_assert_max_num_queries(6):
            assert len(api_client.get(f"/api/v1/campaigns?limit={limit}&ordering=-spend").json()["items"]) == limit


def test_another_tenants_campaign_is_404(api_client, frozen):
    other = CampaignFactory(tenant=TenantFactory())
    for method in ("get", "patch", "delete"):
        assert_error(getattr(api_client, method)(f"/api/v1/campaigns/{other.pk}", {"status": "paused"}, format="json"),
                     404, "NOT_FOUND")
    assert_error(api_client.get(f"/api/v1/campaigns/{other.pk}/performance"), 404, "NOT_FOUND")
    assert_error(api_client.get(f"/api/v1/campaigns/{other.pk}/recommendations"), 404, "NOT_FOUND")
    assert Campaign.objects.unscoped().get(pk=other.pk).status == "active"


def test_detail_and_performance(api_client, two_campaigns, tenant):
    summer, _ = two_campaigns
    ad = AdFactory(tenant=tenant, campaign=summer, name="Hero video")
    AdDailyMetricFactory(tenant=tenant, ad=ad, date=dt.date(2026, 3, 17), spend=Decimal("60"), revenue=Decimal("90"))
    detail = api_client.get(f"/api/v1/campaigns/{summer.pk}").json()
    assert detail["ads_count"] == 1 and detail["ad_account"]["external_id"] == "act_1"
    assert detail["metrics"]["spend"] == 1300.0 and detail["spend"] == 1300.0 and detail["budget_type"] == "daily"
    perf = api_client.get(f"/api/v1/campaigns/{summer.pk}/performance?period=7d").json()
    assert (perf["start_date"], perf["end_date"]) == ("2026-03-12", "2026-03-18")
    assert len(perf["series"]) == 7 and perf["series"][-1] == {**perf["series"][-1], "date": "2026-03-18", "spend": 0.0}
    assert perf["totals"]["spend"] == 300.0 and perf["totals"]["roas"] == round(950 / 300, 2)
    assert perf["previous_totals"]["spend"] == 0.0 and perf["changes"]["spend"] is None
    assert perf["ads"] == [{**perf["ads"][0], "name": "Hero video", "spend": 60.0, "roas": 1.5}]
    assert_error(api_client.get(f"/api/v1/campaigns/{summer.pk}/performance?period=abc"), 422)


def test_scopes_and_roles(make_key_client, make_client, user, tenant, two_campaigns):
    summer, _ = two_campaigns
    analytics_only = make_key_client(user, scopes=["read:analytics"])
    assert_error(analytics_only.get("/api/v1/campaigns"), 403, "FORBIDDEN")
    assert analytics_only.get("/api/v1/dashboard/overview").status_code == 200
    reader = make_key_client(user, scopes=["read:campaigns"])
    assert reader.get("/api/v1/campaigns").status_code == 200
    assert_error(reader.patch(f"/api/v1/campaigns/{summer.pk}", {"status": "paused"}, format="json"), 403)
    viewer = make_client(UserFactory(tenant=tenant, role="viewer"))
    assert viewer.get(f"/api/v1/campaigns/{summer.pk}").status_code == 200
    assert_error(viewer.patch(f"/api/v1/campaigns/{summer.pk}", {"status": "paused"}, format="json"), 403)


# --- changes through the platform ------------------------------------------------------------

@pytest.fixture
def meta_campaign(tenant, fake_platform, frozen):
    account = AdAccountFactory(tenant=tenant, platform="meta", external_id="act_9", currency="EUR")
    return CampaignFactory(tenant=tenant, ad_account=account, name="Holiday Sale", external_id="c_1",
                           budget_amount=Decimal("100.00"))


def events(tenant):
    return list(OutboxEvent.objects.for_tenant(tenant).order_by("created_at").values_list("event_type", "data"))


def test_pause_activate_and_budget_emit_events(api_client, tenant, user, meta_campaign, fake_platform):
    url = f"/api/v1/campaigns/{meta_campaign.pk}"
    response = api_client.patch(url, {"status": "paused", "reason": "low_roas"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "paused"
    assert ("status", "c_1", "paused") in fake_platform.calls
    (kind, data), = events(tenant)
    assert kind == "campaign.paused"
    assert data == {"campaign_id": str(meta_campaign.pk), "campaign_name": "Holiday Sale", "reason": "low_roas",
                    "previous_status": "active", "status": "paused", "platform": "meta",
                    "ad_account_id": str(meta_campaign.ad_account_id), "actor": f"user:{user.pk}"}
    response = api_client.patch(url, {"status": "active", "budget": "150.50"}, format="json")
    assert response.json()["budget"] == 150.5 and response.json()["status"] == "active"
    kinds = [k for k, _ in events(tenant)]
    assert kinds == ["campaign.paused", "budget.changed", "campaign.activated"]
    budget = events(tenant)[1][1]
    assert (budget["previous_budget"], budget["new_budget"], budget["currency"], budget["reason"]) == (
        100.0, 150.5, "EUR", "manual")
    # The same values again change nothing and announce nothing.
    assert api_client.patch(url, {"status": "active", "budget": 150.5}, format="json").status_code == 200
    assert len(events(tenant)) == 3


def test_delete_marks_deleted_and_hides_from_list(api_client, tenant, meta_campaign):
    assert api_client.delete(f"/api/v1/campaigns/{meta_campaign.pk}").status_code == 204
    assert [k for k, _ in events(tenant)] == ["campaign.deleted"]
    assert api_client.get("/api/v1/campaigns").json()["total"] == 0
    assert api_client.get("/api/v1/campaigns?status=deleted").json()["total"] == 1
    assert_error(api_client.patch(f"/api/v1/campaigns/{meta_campaign.pk}", {"status": "active"}, format="json"),
                 409, "CAMPAIGN_DELETED")


@pytest.mark.parametrize("body,field", [
    ({}, "non_field_errors"), ({"status": "draft"}, "status"), ({"status": "running"}, "status"),
    ({"budget": -5}, "budget"), ({"budget": "abc"}, "budget"), ({"budget": 0}, "budget"),
    ({"budget": "10.123"}, "budget"), ({"name": "x"}, "name"), ({"status": "deleted", "budget": 10}, "budget"),
])
def test_patch_bad_input(api_client, tenant, meta_campaign, body, field):
    response = assert_error(api_client.patch(f"/api/v1/campaigns/{meta_campaign.pk}", body, format="json"), 422)
    assert field in response["errors"]
    assert events(tenant) == []


def test_patch_budget_below_platform_minimum(api_client, tenant, fake_platform, frozen):
    campaign = CampaignFactory(tenant=tenant, ad_account=AdAccountFactory(tenant=tenant, platform="tiktok"))
    body = assert_error(api_client.patch(f"/api/v1/campaigns/{campaign.pk}", {"budget": 20}, format="json"), 422,
                        "BUDGET_TOO_LOW")
    assert "50.00" in body["errors"]["budget"][0]


def test_platform_failure_changes_nothing(api_client, tenant, meta_campaign, fake_platform):
    fake_platform.fail_with = ConnectorError("Invalid OAuth access token", code="PLATFORM_AUTH_FAILED")
    body = assert_error(api_client.patch(f"/api/v1/campaigns/{meta_campaign.pk}", {"status": "paused"}, format="json"),
                        502, "PLATFORM_AUTH_FAILED")
    assert "Invalid OAuth access token" in body["detail"]
    meta_campaign.refresh_from_db()
    assert meta_campaign.status == "active" and events(tenant) == []


def test_rate_limited_platform_is_503_with_retry_after(api_client, tenant, meta_campaign, fake_platform):
    fake_platform.fail_with = ConnectorRateLimited(retry_after=42)
    response = api_client.patch(f"/api/v1/campaigns/{meta_campaign.pk}", {"budget": 200}, format="json")
    assert_error(response, 503, "PLATFORM_RATE_LIMITED")
    assert response["Retry-After"] == "42"


def test_status_failure_after_budget_puts_the_budget_back(tenant, meta_campaign, fake_platform, scoped):
    from campaigns.services import campaign_update
    from stratum.api.exceptions import ApiError

    fake_platform.fail_with = ConnectorError("boom")
    fake_platform.fail_on = {"update_campaign_status"}
    with pytest.raises(ApiError):
        campaign_update(tenant=tenant, campaign=meta_campaign, status="paused", budget_amount=Decimal("300"),
                        actor="autopilot", reason="autopilot_scale")
    budget_calls = [c for c in fake_platform.calls if c[0] == "budget"]
    assert budget_calls == [("budget", "c_1", Decimal("300.00")), ("budget", "c_1", Decimal("100.00"))]
    meta_campaign.refresh_from_db()
    assert meta_campaign.budget_amount == Decimal("100.00") and events(tenant) == []


def test_platform_without_connector_is_409(api_client, tenant, frozen):
    campaign = CampaignFactory(tenant=tenant, ad_account=AdAccountFactory(tenant=tenant, platform="snapchat"))
    from campaigns import connectors

    saved = connectors._factories.pop("snapchat", None)
    try:
        assert_error(api_client.patch(f"/api/v1/campaigns/{campaign.pk}", {"status": "paused"}, format="json"),
                     409, "NOT_CONNECTED")
    finally:
        if saved:
            connectors._factories["snapchat"] = saved


def test_demo_campaign_change_round_trips_through_sync(api_client, tenant, demo_world, scoped):
    from campaigns.services import ad_account_sync

    campaign = Campaign.objects.get(name="Summer Sale — Prospecting")
    response = api_client.patch(f"/api/v1/campaigns/{campaign.pk}", {"budget": 300}, format="json")
    assert response.status_code == 200
    ad_account_sync(tenant=tenant, ad_account=campaign.ad_account)
    campaign.refresh_from_db()
    assert campaign.budget_amount == Decimal("300.00")  # the platform reports the new budget back
