"""GET/PUT /api/v1/integrations/{platform}/accounts: what the connection reaches, and what Stratum syncs."""
from __future__ import annotations

import json

import httpx
import pytest

from campaigns.models import AdAccount
from integrations.versions import DEFAULT_VERSIONS
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import UserFactory
from tests.campaigns.factories import AdAccountFactory
from tests.helpers import assert_error

from .factories import ConnectionFactory

GRAPH = f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}"
ACCOUNTS = {"data": [
    {"id": "act_1", "account_id": "1", "name": "Brand US", "currency": "USD", "timezone_name": "America/New_York"},
    {"id": "act_2", "account_id": "2", "name": "Brand EU", "currency": "EUR", "timezone_name": "Europe/Berlin"},
    {"id": "act_3", "account_id": "3", "name": "Brand APAC", "currency": "AUD", "timezone_name": "Australia/Sydney"}],
    "paging": {"cursors": {"before": "a", "after": "b"}}}


@pytest.fixture
def meta(user, respx_mock):
    connection = ConnectionFactory(tenant=user.tenant, provider="meta")
    respx_mock.get(f"{GRAPH}/me/adaccounts").respond(200, json=ACCOUNTS)
    return connection


def test_lists_reachable_accounts_with_selection(api_client, user, meta):
    AdAccountFactory(tenant=user.tenant, platform="meta", external_id="act_2", name="Brand EU",
                     connection_id=meta.pk)
    body = api_client.get("/api/v1/integrations/meta/accounts").json()
    assert body["total"] == 3 and body["page"] == 1 and body["pages"] == 1
    assert [(a["external_id"], a["currency"], a["selected"]) for a in body["items"]] == [
        ("act_1", "USD", False), ("act_2", "EUR", True), ("act_3", "AUD", False)]
    assert body["items"][0]["ad_account_id"] is None and body["items"][1]["ad_account_id"] is not None


def test_choosing_accounts_creates_and_deactivates_ad_accounts(api_client, user, meta):
    response = api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_1", "act_3"]}, format="json")
    assert response.status_code == 200, response.content
    assert [a["external_id"] for a in response.json()["items"]] == ["act_1", "act_3"]
    with tenant_scope(user.tenant):
        rows = {a.external_id: a for a in AdAccount.objects.filter(platform="meta")}
    assert rows["act_1"].connection_id == meta.pk and rows["act_1"].timezone == "America/New_York"
    assert rows["act_3"].currency == "AUD" and rows["act_3"].is_active
    api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_3"]}, format="json")
    with tenant_scope(user.tenant):
        active = sorted(AdAccount.objects.filter(platform="meta", is_active=True).values_list("external_id", flat=True))
        assert active == ["act_3"]
        assert AdAccount.objects.filter(platform="meta").count() == 2  # history kept


def test_choosing_enforces_the_plan_limit_across_platforms(api_client, user, meta):
    user.tenant.plan = "starter"  # max_ad_accounts 3
    user.tenant.save()
    AdAccountFactory(tenant=user.tenant, platform="demo", external_id="d1")
    AdAccountFactory(tenant=user.tenant, platform="demo", external_id="d2")
    response = api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_1", "act_2"]}, format="json")
    assert_error(response, 403, "PLAN_LIMIT_REACHED")
    with tenant_scope(user.tenant):
        assert not AdAccount.objects.filter(platform="meta").exists()  # nothing half-written
    assert api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_1"]},
                          format="json").status_code == 200


def test_bad_selections_are_422(api_client, meta):
    body = assert_error(api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_999"]},
                                       format="json"), 422, "VALIDATION_ERROR")
    assert "act_999" in body["errors"]["external_ids"][0]
    assert_error(api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": "act_1"}, format="json"), 422)
    assert_error(api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": [], "extra": 1},
                                format="json"), 422)


def test_unknown_or_unconnected_platform(api_client):
    assert_error(api_client.get("/api/v1/integrations/hubspot/accounts"), 404)
    assert_error(api_client.get("/api/v1/integrations/myspace/accounts"), 404)
    assert_error(api_client.get("/api/v1/integrations/google/accounts"), 409, "NOT_CONNECTED")


def test_expired_connection_and_provider_failures(api_client, user, respx_mock):
    ConnectionFactory(tenant=user.tenant, provider="google", status="expired")
    assert_error(api_client.get("/api/v1/integrations/google/accounts"), 409, "NOT_CONNECTED")
    ConnectionFactory(tenant=user.tenant, provider="tiktok", token_expires_at=None)
    respx_mock.get("https://business-api.tiktok.com/open_api/v1.3/oauth2/advertiser/get/").mock(
        return_value=httpx.Response(500, text="oops"))
    body = assert_error(api_client.get("/api/v1/integrations/tiktok/accounts"), 502, "PROVIDER_ERROR")
    assert "TikTok" in body["detail"]


def test_only_managers_choose_accounts(tenant, make_client, meta):
    analyst = make_client(UserFactory(tenant=tenant, role="analyst"))
    assert analyst.get("/api/v1/integrations/meta/accounts").status_code == 200
    assert_error(analyst.put("/api/v1/integrations/meta/accounts", {"external_ids": []}, format="json"), 403)


def test_api_key_scopes(user, make_key_client, meta):
    reader = make_key_client(user, scopes=["read:integrations"])
    assert reader.get("/api/v1/integrations/meta/accounts").status_code == 200
    assert_error(reader.put("/api/v1/integrations/meta/accounts", {"external_ids": []}, format="json"), 403)
    assert_error(make_key_client(user, scopes=["read:campaigns"]).get("/api/v1/integrations/meta/accounts"), 403)


def test_a_chosen_account_is_synced_through_the_real_connector(api_client, user, meta, respx_mock,
                                                               django_capture_on_commit_callbacks):
    from decimal import Decimal

    from campaigns.models import Campaign, CampaignDailyMetric

    respx_mock.get(f"{GRAPH}/act_1").respond(200, json={"id": "act_1", "currency": "USD"})
    respx_mock.get(f"{GRAPH}/act_1/campaigns").respond(200, json={"data": [
        {"id": "120", "name": "Prospecting", "status": "ACTIVE", "objective": "OUTCOME_SALES", "daily_budget": "5000"}]})
    respx_mock.get(f"{GRAPH}/act_1/ads").respond(200, json={"data": [
        {"id": "900", "name": "Carousel", "campaign_id": "120", "status": "ACTIVE",
         "creative": {"object_type": "SHARE", "title": "Spring sale", "body": "Up to 40% off"}}]})
    row = {"campaign_id": "120", "impressions": "1000", "clicks": "50", "spend": "25.00",
           "actions": [{"action_type": "purchase", "value": "2"}],
           "action_values": [{"action_type": "purchase", "value": "90.00"}]}

    def insights(request):
        level = request.url.params["level"]
        since = json.loads(request.url.params["time_range"])["since"]
        data = [{**row, "date_start": since, "date_stop": since, **({"ad_id": "900"} if level == "ad" else {})}]
        return httpx.Response(200, json={"data": data, "paging": {"cursors": {}}})

    respx_mock.get(f"{GRAPH}/act_1/insights").mock(side_effect=insights)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_1"]}, format="json")
    assert response.status_code == 200
    with tenant_scope(user.tenant):
        campaign = Campaign.objects.get()
        metric = CampaignDailyMetric.objects.get(campaign=campaign)
        account = AdAccount.objects.get(platform="meta")
    assert (campaign.external_id, campaign.budget_amount, campaign.status) == ("120", Decimal("50.00"), "active")
    assert (metric.spend, metric.revenue, metric.conversions) == (Decimal("25.00"), Decimal("90.00"), Decimal("2.00"))
    assert account.last_synced_at is not None and account.last_sync_error == ""
