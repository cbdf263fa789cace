"""One rule for every JSON write: a field takes the JSON type it documents — 5 is not a name, "yes" is not a boolean.

Each case is a write that once coerced the wrong type and saved it (issue 20); each now answers 422 naming the field
and leaves the row as it was.
"""
from __future__ import annotations

import pytest

from accounts.models import Tenant, User
from tests.helpers import assert_error
from tests.trust.factories import AutopilotActionFactory
from tests.trust.test_rules import SPEC_RULE
from trust.models import Rule

pytestmark = pytest.mark.django_db


def _refused(response, field: str, message: str):
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["errors"] == {field: [message]}, body
    return body


def test_profile_and_tenant_names_must_be_strings(api_client, user, tenant):
    _refused(api_client.patch("/api/v1/users/me", {"name": 5}, format="json"), "name", "Must be a string.")
    _refused(api_client.patch("/api/v1/tenants/current", {"name": 7}, format="json"), "name", "Must be a string.")
    assert User.objects.get(pk=user.pk).name == user.name
    assert Tenant.objects.get(pk=tenant.pk).name == tenant.name
    renamed = api_client.patch("/api/v1/users/me", {"name": "Ada Lovelace"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada Lovelace"


def test_rule_booleans_and_nested_values_are_strict(api_client):
    _refused(api_client.post("/api/v1/rules", {**SPEC_RULE, "enabled": "yes"}, format="json"), "enabled",
             "Must be a boolean (true or false).")
    _refused(api_client.post("/api/v1/rules", {**SPEC_RULE, "name": 123}, format="json"), "name",
             "Must be a string.")
    assert not Rule.objects.unscoped().exists()


def test_autopilot_reject_reason_must_be_a_string(api_client, tenant):
    action = AutopilotActionFactory(tenant=tenant, status="pending")
    _refused(api_client.post(f"/api/v1/autopilot/actions/{action.pk}/reject", {"reason": 5}, format="json"),
             "reason", "Must be a string.")
    action.refresh_from_db()
    assert action.status == "pending"


def test_nested_preferences_are_strict(api_client):
    response = api_client.patch("/api/v1/notifications/preferences", {"email": {"all": "yes"}}, format="json")
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert list(body["errors"]) == ["email.all"], body
