"""The product's counters of the outside world's answers, after real actions through the API: webhook deliveries by
outcome, audience syncs, CRM sync runs and autopilot actions — exact increments, read back through /metrics. The
outside world (receivers, Meta's Graph API, HubSpot) is answered by respx; nothing of the product is stubbed."""
from __future__ import annotations

import json
import re
from decimal import Decimal

import httpx
import pytest

from cdp.models import AudienceSyncRun
from integrations.versions import DEFAULT_VERSIONS
from stratum.api.tenancy import tenant_scope
from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.cdp.factories import ProfileFactory, SegmentFactory
from tests.helpers import client_for
from tests.integrations.factories import ConnectionFactory
from tests.integrations.test_crm import hs_contact, mock_hubspot
from tests.trust.conftest import NOW, account, campaign, daily, purchases
from tests.webhooks.factories import WebhookFactory
from trust.services import autopilot_settings_get

from .conftest import scrape, value

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("metrics_token")]

GRAPH = f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}"


def delta(before, after, name, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_webhook_deliveries_by_outcome(api_client, anon_client, tenant, public_dns, respx_mock,
                                       django_capture_on_commit_callbacks):
    """One campaign paused through the API, three endpoints: one takes it, one fails for now, one is gone."""
    answers = {"https://ok.example/hook": 204, "https://flaky.example/hook": 500, "https://gone.example/hook": 410}
    for url, status in answers.items():
        WebhookFactory(tenant=tenant, url=url, events=["campaign.paused"])
        respx_mock.post(url).respond(status)
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="meta")
    meta = AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1", connection_id=connection.pk)
    paused = CampaignFactory(tenant=tenant, ad_account=meta, external_id="601", status="active")
    respx_mock.post(f"{GRAPH}/601").respond(200, json={"success": True})
    before = scrape(anon_client)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.patch(f"/api/v1/campaigns/{paused.pk}", {"status": "paused"}, format="json")
    assert response.status_code == 200, response.content
    assert sorted(route.call_count for route in respx_mock.routes) == [1, 1, 1, 1]
    after = scrape(anon_client)
    outcomes = {outcome: delta(before, after, "stratum_webhook_delivery_attempts_total", outcome=outcome)
                for outcome in ("succeeded", "retrying", "failed")}
    assert outcomes == {"succeeded": 1, "retrying": 1, "failed": 1}


def test_audience_syncs_to_meta_by_outcome(api_client, anon_client, tenant, respx_mock,
                                           django_capture_on_commit_callbacks):
    """The first upload is refused by Meta (a permission error), the second goes through."""
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="meta")
    AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1", connection_id=connection.pk)
    for n in range(3):
        ProfileFactory(tenant=tenant, email=f"buyer{n}@shop.example", lifecycle_stage="customer")
    segment = SegmentFactory(tenant=tenant, conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})
    created = api_client.post("/api/v1/cdp/audience-sync/audiences", {
        "name": "Buyers", "segment_id": str(segment.pk), "platform": "meta",
        "platform_config": {"ad_account_id": "act_1", "audience_type": "custom"}, "sync_frequency": "daily"},
        format="json")
    assert created.status_code == 201, created.content
    audience_id = created.json()["id"]
    respx_mock.get(f"{GRAPH}/act_1/customaudiences").respond(200, json={"data": [], "paging": {}})  # none yet
    respx_mock.post(f"{GRAPH}/act_1/customaudiences").respond(200, json={"id": "238"})
    users = respx_mock.post(f"{GRAPH}/238/users")
    users.side_effect = [
        httpx.Response(403, json={"error": {"message": "(#200) Permissions error", "type": "OAuthException",
                                            "code": 200, "fbtrace_id": "A1"}}),
        httpx.Response(200, json={"audience_id": "238", "session_id": "1", "num_received": 3,
                                  "num_invalid_entries": 0, "invalid_entry_samples": {}})]

    before = scrape(anon_client)
    statuses = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert api_client.post(f"/api/v1/cdp/audience-sync/audiences/{audience_id}/sync").status_code == 202
        with tenant_scope(tenant):
            statuses.append(AudienceSyncRun.objects.filter(audience_id=audience_id).latest("started_at").status)
    assert statuses == ["failed", "success"]
    after = scrape(anon_client)
    assert delta(before, after, "stratum_audience_syncs_total", platform="meta", outcome="failed") == 1
    assert delta(before, after, "stratum_audience_syncs_total", platform="meta", outcome="success") == 1


def test_crm_sync_runs_by_outcome(api_client, anon_client, user, respx_mock, monkeypatch,
                                  django_capture_on_commit_callbacks):
    """A pull that succeeds; then HubSpot rate-limits every call: two retries of the run, then it fails."""
    monkeypatch.setattr("integrations.http.sleep", lambda seconds: None)
    with tenant_scope(user.tenant):
        ConnectionFactory(tenant=user.tenant, provider="hubspot")
    search, _ = mock_hubspot(respx_mock, [hs_contact("101", "2026-03-02T10:00:00.000Z", {}, email="ada@example.com")])

    def pull() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post("/api/v1/integrations/crm/sync", {"provider": "hubspot", "direction": "pull"},
                                       format="json")
        assert response.status_code == 202, response.content

    before = scrape(anon_client)
    pull()
    search.side_effect = None
    search.return_value = httpx.Response(429, json={
        "status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
        "correlationId": "c2", "category": "RATE_LIMITS"})
    pull()
    after = scrape(anon_client)
    outcomes = {outcome: delta(before, after, "stratum_crm_syncs_total", provider="hubspot", outcome=outcome)
                for outcome in ("succeeded", "partial", "retry", "failed")}
    assert outcomes == {"succeeded": 1, "partial": 0, "retry": 2, "failed": 1}


def test_autopilot_actions_by_kind_and_status(user, anon_client, tenant, respx_mock, time_machine):
    """A healthy signal: the loser is paused, the winner gets the donor's budget — each through Meta's API."""
    time_machine.move_to(NOW, tick=False)
    api_client = client_for(user)  # a token issued at the test's time
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="meta")
        settings = autopilot_settings_get(tenant=tenant)
        settings.enabled, settings.mode = True, "balanced"
        settings.save()
    acc = account(tenant, connection_id=connection.pk, external_id="act_1", currency="USD")
    loser = campaign(tenant, acc, name="Loser", budget="100.00", external_id="601")
    daily(tenant, loser, range(0, 30), spend=100, revenue=80, conversions=2)
    winner = campaign(tenant, acc, name="Winner", budget="200.00", external_id="602")
    daily(tenant, winner, range(0, 30), spend=198, revenue=990, conversions=10)
    donor = campaign(tenant, acc, name="Donor", budget="150.00", external_id="603")
    daily(tenant, donor, range(0, 30), spend=150, revenue=270, conversions=5)
    purchases(tenant, 119, revenue=f"{9380 / 119:.2f}", properties={"ad_account_id": acc.external_id})
    reads = respx_mock.get(url__regex=rf"{re.escape(GRAPH)}/\w+").respond(
        200, json={"id": "x", "daily_budget": "10000", "currency": "USD"})
    changes = respx_mock.post(url__regex=rf"{re.escape(GRAPH)}/60[123]$").respond(200, json={"success": True})

    before = scrape(anon_client)
    body = api_client.post("/api/v1/autopilot/run").json()
    assert (body["proposed"], body["executed"]) == (3, 3), json.dumps(body)[:500]
    assert changes.call_count == 3 and reads.called
    again = api_client.post("/api/v1/autopilot/run").json()
    assert again["proposed"] == 0  # nothing twice in 24 hours: nothing counted twice
    after = scrape(anon_client)
    counted = {(name, dict(labels)["action"], dict(labels)["status"]): after[(name, labels)] - before.get(
        (name, labels), 0) for (name, labels) in after if name == "stratum_autopilot_actions_total"}
    assert {key: n for key, n in counted.items() if n} == {
        ("stratum_autopilot_actions_total", "pause_campaign", "executed"): 1,
        ("stratum_autopilot_actions_total", "increase_budget", "executed"): 1,
        ("stratum_autopilot_actions_total", "decrease_budget", "executed"): 1}
    with tenant_scope(tenant):
        assert Decimal(str(api_client.get(f"/api/v1/campaigns/{winner.pk}").json()["budget"])) == Decimal("222.50")
