"""Plans, feature gates, limits and rate limits per tier, and suspension."""
from __future__ import annotations

import json
import uuid

import pytest

from accounts.models import User
from accounts.services import tokens_for_user
from billing.plans import FEATURES, TIERS
from campaigns.models import AdAccount
from cdp.models import Segment
from integrations.versions import DEFAULT_VERSIONS
from stratum.api.entitlements import PlanLimitReached, feature_require, limit_enforce
from tests.accounts.factories import TenantFactory, UserFactory
from tests.api.test_tenant_isolation import ID_PARAM, STRING_PARAM_VALUES, allowed_methods, api_routes
from tests.helpers import assert_error, client_for
from tests.integrations.factories import ConnectionFactory

EXPECTED_FEATURES = {
    "starter": {"autopilot": False, "cdp": True, "audience_sync": False, "predictive_churn": False,
                "custom_reports": False, "what_if_simulator": False},
    "professional": {"autopilot": True, "cdp": True, "audience_sync": True, "predictive_churn": False,
                     "custom_reports": False, "what_if_simulator": True},
    "enterprise": {"autopilot": True, "cdp": True, "audience_sync": True, "predictive_churn": True,
                   "custom_reports": True, "what_if_simulator": True},
}
EXPECTED_LIMITS = {
    "starter": {"max_ad_accounts": 3, "max_users": 3, "max_segments": 10, "max_event_retention_days": 365},
    "professional": {"max_ad_accounts": 15, "max_users": 10, "max_segments": 50, "max_event_retention_days": 730},
    "enterprise": {"max_ad_accounts": 100, "max_users": 100, "max_segments": 500, "max_event_retention_days": 1825},
}
CONDITIONS = {"operator": "and", "rules": [{"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]}
EXPECTED_RATES = {"starter": ("60", 20), "professional": ("300", 50), "enterprise": ("1000", 100)}


def owner_client(plan: str, **tenant_fields):
    tenant = TenantFactory(plan=plan, **tenant_fields)
    owner = UserFactory(tenant=tenant, role="owner")
    return tenant, owner, client_for(owner)


@pytest.mark.parametrize("plan", list(TIERS))
def test_features_and_limits_per_tier(db, plan):
    _, _, client = owner_client(plan)
    assert client.get("/api/v1/features").json() == {
        "features": EXPECTED_FEATURES[plan], "tier": plan, "limits": EXPECTED_LIMITS[plan]}


def test_overrides_beat_the_tier(db):
    _, _, client = owner_client("starter", feature_flags={"autopilot": True, "cdp": False, "teleport": True},
                                limit_overrides={"max_segments": 25})
    body = client.get("/api/v1/features").json()
    assert body["features"]["autopilot"] is True and body["features"]["cdp"] is False
    assert "teleport" not in body["features"]
    assert body["limits"] == {"max_ad_accounts": 3, "max_users": 3, "max_segments": 25, "max_event_retention_days": 365}


@pytest.mark.parametrize("plan", list(TIERS))
def test_max_users_is_enforced_per_tier(db, plan):
    tenant, _, client = owner_client(plan)
    allowed = EXPECTED_LIMITS[plan]["max_users"]
    User.objects.bulk_create([User(tenant=tenant, email=f"m{i}@{plan}.test", email_key=f"m{i}@{plan}.test",
                                   role="viewer")
                              for i in range(allowed - 2)])
    response = client.post("/api/v1/users", {"email": f"last@{plan}.test", "role": "viewer"}, format="json")
    assert response.status_code == 201, response.content
    body = assert_error(client.post("/api/v1/users", {"email": f"over@{plan}.test", "role": "viewer"},
                                    format="json"), 403, "PLAN_LIMIT_REACHED")
    assert "max_users" in body["detail"] and str(allowed) in body["detail"]
    assert User.objects.filter(tenant=tenant, is_active=True).count() == allowed


@pytest.mark.parametrize("plan", list(TIERS))
def test_max_segments_is_enforced_per_tier(db, plan):
    tenant, _, client = owner_client(plan)
    allowed = EXPECTED_LIMITS[plan]["max_segments"]
    Segment.objects.unscoped().bulk_create([Segment(tenant=tenant, name=f"S{i}", conditions=CONDITIONS)
                                            for i in range(allowed - 1)])
    create = {"name": "Last one", "conditions": CONDITIONS}
    assert client.post("/api/v1/cdp/segments", create, format="json").status_code == 201
    body = assert_error(client.post("/api/v1/cdp/segments", {**create, "name": "One too many"}, format="json"),
                        403, "PLAN_LIMIT_REACHED")
    assert f"max_segments is {allowed}" in body["detail"]
    assert client.get("/api/v1/subscription").json()["usage"]["max_segments"] == allowed


@pytest.mark.parametrize("plan", list(TIERS))
def test_max_ad_accounts_is_enforced_per_tier(db, plan, respx_mock):
    """Choosing ad accounts to sync (PUT /integrations/{platform}/accounts) counts every platform's active ones."""
    tenant, _, client = owner_client(plan)
    allowed = EXPECTED_LIMITS[plan]["max_ad_accounts"]
    AdAccount.objects.unscoped().bulk_create([AdAccount(tenant=tenant, platform="demo", external_id=f"d{i}",
                                                        name=f"Demo {i}") for i in range(allowed - 1)])
    ConnectionFactory(tenant=tenant, provider="meta")
    respx_mock.get(f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}/me/adaccounts").respond(200, json={"data": [
        {"id": f"act_{i}", "account_id": str(i), "name": f"Brand {i}", "currency": "USD",
         "timezone_name": "UTC"} for i in (1, 2)]})
    body = assert_error(client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_1", "act_2"]},
                                   format="json"), 403, "PLAN_LIMIT_REACHED")
    assert body["detail"] == f"Plan limit reached: max_ad_accounts is {allowed} on the {plan} plan."
    assert client.put("/api/v1/integrations/meta/accounts", {"external_ids": ["act_1"]},
                      format="json").status_code == 200
    assert client.get("/api/v1/subscription").json()["usage"]["max_ad_accounts"] == allowed


def test_max_users_override_lifts_the_limit(db):
    tenant, _, client = owner_client("starter", limit_overrides={"max_users": 4})
    for i in range(3):  # the owner plus three: four, one more than the tier allows
        assert client.post("/api/v1/users", {"email": f"u{i}@x.test", "role": "viewer"},
                           format="json").status_code == 201
    assert_error(client.post("/api/v1/users", {"email": "u9@x.test", "role": "viewer"}, format="json"), 403,
                 "PLAN_LIMIT_REACHED")


def test_gate_functions(db):
    tenant = TenantFactory(plan="starter")
    feature_require(tenant=tenant, feature="cdp")
    with pytest.raises(Exception) as denied:
        feature_require(tenant=tenant, feature="autopilot")
    assert denied.value.code == "FEATURE_NOT_AVAILABLE" and denied.value.status_code == 403
    limit_enforce(tenant=tenant, limit="max_segments", current=9)
    with pytest.raises(PlanLimitReached) as reached:
        limit_enforce(tenant=tenant, limit="max_segments", current=9, adding=2)
    assert "max_segments is 10" in str(reached.value.detail)


@pytest.mark.parametrize("plan", list(TIERS))
def test_rate_limit_follows_the_tier(db, plan):
    _, _, client = owner_client(plan)
    response = client.get("/api/v1/features")
    per_minute, burst = EXPECTED_RATES[plan]
    assert response["X-RateLimit-Limit"] == per_minute
    assert int(response["X-RateLimit-Remaining"]) == int(per_minute) - 1  # the minute quota, as Limit
    assert f'"burst";q={burst};' in response["RateLimit-Policy"]


def _gated_routes():
    for template, params, callback in api_routes():
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        feature = getattr(cls, "required_feature", None)
        if feature:
            values = {p: str(uuid.uuid4()) if ID_PARAM.search(p) else STRING_PARAM_VALUES.get(p, "meta")
                      for p in params}
            url = template
            for name, value in values.items():
                url = url.replace("{" + name + "}", value)
            yield url, feature, allowed_methods(callback)


@pytest.mark.urls("tests.billing.gated_urls")
def test_every_gated_endpoint_follows_the_tier(db, settings):
    """Walks every route whose view declares `required_feature` (the probe and the apps' real ones)."""
    settings.RATELIMIT_ENABLED = False
    routes = list(_gated_routes())
    assert ("/api/v1/_probe/predictive-churn", "predictive_churn", ["GET"]) in routes
    assert all(feature in FEATURES for _, feature, _ in routes), routes
    clients = {plan: owner_client(plan) for plan in TIERS}
    for url, feature, methods in routes:
        for plan, (_tenant, _, client) in clients.items():
            has_it = EXPECTED_FEATURES[plan][feature]
            for method in (methods if not has_it else [m for m in methods if m == "GET"]):
                response = client.generic(method, url, data=json.dumps({}), content_type="application/json")
                if has_it:  # past the gate; what the endpoint then answers is its own app's business
                    assert b"FEATURE_NOT_AVAILABLE" not in response.content, (plan, method, url)
                else:
                    code = response.json().get("code")
                    assert (response.status_code, code) == (403, "FEATURE_NOT_AVAILABLE"), (plan, method, url)
                    assert feature in response.json()["detail"]
    # A staff override turns a missing feature on (and an included one off).
    tenant, _, client = clients["starter"]
    tenant.feature_flags = {"predictive_churn": True}
    tenant.save()
    assert client.get("/api/v1/_probe/predictive-churn").json() == {"ok": True}
    tenant, _, client = clients["enterprise"]
    tenant.feature_flags = {"predictive_churn": False}
    tenant.save()
    assert_error(client.get("/api/v1/_probe/predictive-churn"), 403, "FEATURE_NOT_AVAILABLE")


class TestSuspension:
    def test_suspended_tenant_users_and_keys_get_403(self, db, make_key_client):
        tenant, owner, client = owner_client("professional")
        key_client = make_key_client(owner)
        tenant.status = "suspended"
        tenant.save()
        assert_error(client.get("/api/v1/features"), 403, "TENANT_SUSPENDED")
        assert_error(key_client.get("/api/v1/subscription"), 403, "TENANT_SUSPENDED")
        from tests.accounts.factories import TEST_PASSWORD

        login = client.post("/api/v1/auth/login", {"email": owner.email, "password": TEST_PASSWORD}, format="json")
        assert_error(login, 403, "TENANT_SUSPENDED")
        refresh = client.post("/api/v1/auth/refresh", {"refresh_token": tokens_for_user(user=owner)["refresh_token"]},
                              format="json")
        assert_error(refresh, 403, "TENANT_SUSPENDED")
        tenant.status = "active"
        tenant.save()
        assert client.get("/api/v1/features").status_code == 200
