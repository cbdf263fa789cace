"""Campaign builder: platforms, accounts, create with per-platform validation, through the connector."""
from __future__ import annotations

import pytest

from campaigns.models import Campaign, DemoPlatformChange
from stratum.api.models import OutboxEvent
from tests.accounts.factories import TenantFactory
from tests.campaigns.factories import AdAccountFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db
URL = "/api/v1/campaign-builder/campaigns"


@pytest.fixture
def demo_account(tenant):
    return AdAccountFactory(tenant=tenant, platform="demo", external_id="demo_101", name="Northwind")


def body(**overrides):
    data = {"platform": "demo", "ad_account_id": "demo_101", "name": "New Campaign", "objective": "conversions",
            "budget": {"type": "daily", "amount": 100.00},
            "targeting": {"locations": ["US", "ca"], "age_min": 25, "age_max": 54, "interests": ["technology"]}}
    data.update(overrides)
    return data


def test_platforms(api_client, demo_account):
    body = api_client.get("/api/v1/campaign-builder/platforms").json()
    assert (body["total"], body["page"], body["pages"], body["limit"]) == (5, 1, 1, 20)  # a Stratum page
    platforms = {p["platform"]: p for p in body["items"]}
    assert set(platforms) == {"meta", "google", "tiktok", "snapchat", "demo"}
    assert platforms["demo"] == {**platforms["demo"], "connected": True, "available": True, "ad_accounts": 1,
                                 "supports_audiences": True}
    assert platforms["meta"]["connected"] is False and platforms["tiktok"]["min_daily_budget"] == 50.0
    assert platforms["google"]["monthly_cap_days"] == 30.4 and platforms["google"]["daily_overdelivery"] == 2.0


def test_accounts(api_client, tenant, demo_account):
    AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1")
    AdAccountFactory(tenant=TenantFactory(), platform="demo")
    body_ = api_client.get("/api/v1/campaign-builder/accounts?platform=demo").json()
    assert [a["external_id"] for a in body_["items"]] == ["demo_101"] and body_["total"] == 1
    assert body_["items"][0]["campaigns_count"] == 0
    assert api_client.get("/api/v1/campaign-builder/accounts").json()["total"] == 2
    assert_error(api_client.get("/api/v1/campaign-builder/accounts?platform=myspace"), 422, "VALIDATION_ERROR")


def test_create_through_the_platform(api_client, tenant, demo_account, user):
    response = api_client.post(URL, body(), format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["external_id"] == "demo_101_n001" and created["status"] == "paused"
    assert created["budget"] == 100.0 and created["objective"] == "conversions" and created["platform"] == "demo"
    assert created["targeting"] == {"locations": ["CA", "US"], "age_min": 25, "age_max": 54,
                                    "interests": ["technology"], "genders": "all"}
    assert DemoPlatformChange.objects.for_tenant(tenant).filter(kind="created").count() == 1
    event = OutboxEvent.objects.for_tenant(tenant).get()
    assert event.event_type == "campaign.created"
    assert event.data == {**event.data, "campaign_id": created["id"], "campaign_name": "New Campaign",
                          "actor": f"user:{user.pk}", "budget_amount": 100.0, "previous_status": None}
    by_uuid = api_client.post(URL, body(ad_account_id=str(demo_account.pk), status="active", name="Second"),
                              format="json")
    assert by_uuid.status_code == 201 and by_uuid.json()["status"] == "active"


@pytest.mark.parametrize("overrides,field", [
    ({"objective": "world_domination"}, "objective"),
    ({"budget": {"type": "daily", "amount": 2}}, "budget.amount"),
    ({"budget": {"type": "weekly", "amount": 100}}, "budget.type"),
    ({"budget": {"type": "lifetime", "amount": 1000}}, "end_date"),
    ({"budget": {"type": "daily", "amount": "abc"}}, "budget.amount"),
    ({"budget": {"type": "daily", "amount": 100, "currency": "USD"}}, "budget.currency"),
    ({"targeting": {"locations": ["US"], "age_min": 12}}, "targeting.age_min"),
    ({"targeting": {"locations": ["US"], "age_max": 66}}, "targeting.age_max"),
    ({"targeting": {"locations": ["US"], "age_min": 40, "age_max": 30}}, "targeting.age_min"),
    ({"targeting": {"locations": ["USA"]}}, "targeting.locations"),
    ({"targeting": {"locations": ["XX"]}}, "targeting.locations"),
    ({"targeting": {"locations": []}}, "targeting.locations"),
    ({"targeting": {"locations": ["US"], "zip": "10001"}}, "targeting.zip"),
    ({"targeting": {"locations": ["US"], "interests": "tech"}}, "targeting.interests"),
    ({"name": "   "}, "name"),
    ({"status": "deleted"}, "status"),
    ({"start_date": "2026-01-01"}, "start_date"),
    ({"platform": "myspace"}, "platform"),
    ({"tenant_id": "00000000-0000-0000-0000-000000000000"}, "tenant_id"),
])
def test_create_validation(api_client, tenant, demo_account, overrides, field):
    response = assert_error(api_client.post(URL, body(**overrides), format="json"), 422)
    assert field in response["errors"], response
    assert Campaign.objects.for_tenant(tenant).count() == 0 and OutboxEvent.objects.for_tenant(tenant).count() == 0


def test_platform_minimum_budget(api_client, tenant, fake_platform):
    AdAccountFactory(tenant=tenant, platform="tiktok", external_id="tt_1")
    response = assert_error(api_client.post(URL, body(platform="tiktok", ad_account_id="tt_1",
                                                       budget={"type": "daily", "amount": 20}), format="json"), 422,
                            "BUDGET_TOO_LOW")
    assert "50.00" in response["errors"]["budget.amount"][0]


def test_unknown_or_foreign_account_is_404_and_an_unconnected_platform_409(api_client, demo_account):
    other = AdAccountFactory(tenant=TenantFactory(), platform="demo", external_id="demo_999")
    assert_error(api_client.post(URL, body(ad_account_id="demo_999"), format="json"), 404, "NOT_FOUND")
    assert_error(api_client.post(URL, body(ad_account_id=str(other.pk)), format="json"), 404, "NOT_FOUND")
    # no Meta account at all: the one "not connected" answer (as disconnect, accounts, CRM sync and audiences give)
    assert_error(api_client.post(URL, body(platform="meta"), format="json"), 409, "NOT_CONNECTED")


def test_created_on_the_fake_platform_and_failure_changes_nothing(api_client, tenant, fake_platform):
    AdAccountFactory(tenant=tenant, platform="meta", external_id="act_123456")
    ok = api_client.post(URL, body(platform="meta", ad_account_id="act_123456"), format="json")
    assert ok.status_code == 201 and ok.json()["external_id"] == "fake_1"
    from campaigns.connectors.base import ConnectorError

    fake_platform.fail_with = ConnectorError("(#100) Invalid parameter", code="PLATFORM_ERROR")
    assert_error(api_client.post(URL, body(platform="meta", ad_account_id="act_123456", name="B"), format="json"),
                 502, "PLATFORM_ERROR")
    assert Campaign.objects.for_tenant(tenant).count() == 1
    assert OutboxEvent.objects.for_tenant(tenant).count() == 1
