"""Cross-tenant access: the isolation walker (tests/api/test_tenant_isolation.py, reused as it is) attacks every
route's path and query ids; here its calls are counted, and tenant A's ids are also planted where the walker sends
none — in request bodies (clients, members, ad accounts, segments, reports, campaigns, assignees, profiles) —
and afterwards no row of tenant B may point at anything of tenant A."""
from __future__ import annotations

import json

import pytest
from django.db import models

from tests.api.test_tenant_isolation import test_every_route_is_walked_and_nothing_leaks as isolation_walk
from tests.api.test_tenant_isolation import world  # noqa: F401  (the walker's two-tenant world)
from tests.factories import all_factories
from tests.security.kit import leaked, tenant_owned_models, tenant_rows


class CountingClient:
    """Wraps a test client; every request it sends is one attack."""

    def __init__(self, client):
        self._client, self.calls = client, 0

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name in ("get", "post", "put", "patch", "delete", "generic"):
            def counted(*args, **kwargs):
                self.calls += 1
                return attribute(*args, **kwargs)
            return counted
        return attribute


@pytest.mark.attack("cross_tenant")
def test_the_isolation_walker_finds_no_leak_on_any_route(hostile, world):
    world["clients_b"] = {name: CountingClient(client) for name, client in world["clients_b"].items()}
    try:
        isolation_walk(world)
        outcome = ""
    except AssertionError as exc:
        outcome = str(exc)
    hostile.count("cross_tenant", sum(client.calls for client in world["clients_b"].values()))
    hostile.expect("cross_tenant", "the isolation walker over every route", not outcome, outcome[:2000])


def _pointers_to(tenant_b, a_ids: set[str]) -> list[str]:
    """Every value of tenant B's rows (foreign keys, ids, JSON) that names one of tenant A's ids."""
    found = []
    for model in tenant_owned_models():
        fields = [f for f in model._meta.concrete_fields if f.name != "id" and (
            isinstance(f, (models.ForeignKey, models.UUIDField, models.JSONField, models.CharField, models.TextField)))]
        for row in model.objects.for_tenant(tenant_b).values(*[f.attname for f in fields]):
            text = json.dumps(row, default=str)
            if hits := [i for i in a_ids if i in text]:
                found.append(f"{model.__name__}: {hits[:2]}")
    return found


@pytest.mark.attack("cross_tenant")
def test_tenant_a_ids_in_request_bodies_are_refused(hostile, world, settings):
    settings.RATELIMIT_ENABLED = False
    objects, a_ids = world["objects"], world["a_ids"]
    attacker = world["clients_b"]["jwt"]
    tenant_b = attacker.user.tenant
    factories = all_factories()
    mine = {model: factories[model](tenant=tenant_b) for model in tenant_owned_models()}
    before = tenant_rows(world["tenant_a"])

    def a(label: str) -> str:
        model = next(m for m in objects if m.__name__ == label)
        return str(objects[model].pk)

    def b(label: str) -> str:
        model = next(m for m in mine if m.__name__ == label)
        return str(mine[model].pk)

    a_user = str(world["owner_a"].pk)
    a_account = next(m for m in objects if m.__name__ == "AdAccount")
    attacks = [
        ("POST", "/api/v1/tasks", {"name": "t", "client_id": a("Client")}),
        ("POST", "/api/v1/tasks", {"name": "t", "client_id": b("Client"), "assignees": [a_user]}),
        ("POST", "/api/v1/tasks", {"name": "t", "client_id": b("Client"), "related_object_type": "campaign",
                                   "related_object_id": a("Campaign")}),
        ("POST", "/api/v1/tasks", {"name": "t", "client_id": b("Client"), "related_object_type": "creative_submission",
                                   "related_object_id": a("CreativeSubmission")}),
        ("PATCH", f"/api/v1/tasks/{b('Task')}", {"assignees": [a_user]}),
        ("POST", f"/api/v1/tasks/{b('Task')}/complete", {"completed_by": a_user}),
        ("POST", f"/api/v1/clients/{b('Client')}/members", {"user_id": a_user, "role": "admin"}),
        ("POST", f"/api/v1/clients/{b('Client')}/ad-accounts", {"ad_account_id": a("AdAccount")}),
        ("POST", f"/api/v1/alerts?client_id={a('Client')}", {"name": "a", "alert_type": "spend"}),
        ("POST", f"/api/v1/alerts?client_id={b('Client')}", {"name": "a", "alert_type": "spend", "action_config": {
            "create_task": True, "assignees": [a_user]}}),
        ("POST", "/api/v1/leadscoring/score", {"email": "l@example.com", "raw_data": {}, "client_id": a("Client")}),
        ("POST", "/api/v1/creative-submissions", {"name": "c", "ad_type": "text", "client_id": a("Client")}),
        ("POST", "/api/v1/cdp/audience-sync/audiences", {"name": "a", "segment_id": a("Segment"), "platform": "meta",
                                                         "platform_config": {"ad_account_id": b("AdAccount")}}),
        ("POST", "/api/v1/cdp/audience-sync/audiences", {"name": "a", "segment_id": b("Segment"), "platform": "meta",
                                                         "platform_config": {"ad_account_id": a("AdAccount")}}),
        ("POST", "/api/v1/cdp/audience-sync/audiences", {"name": "a", "segment_id": b("Segment"), "platform": "demo",
                                                         "platform_config": {"ad_account_id":
                                                                             objects[a_account].external_id}}),
        ("PATCH", f"/api/v1/cdp/audience-sync/audiences/{b('Audience')}", {"segment_id": a("Segment")}),
        ("POST", "/api/v1/cdp/audiences/export", {"segment_id": a("Segment")}),
        ("POST", "/api/v1/cdp/events/track", {"profile_id": a("Profile"), "event_type": "purchase"}),
        ("POST", f"/api/v1/cdp/profiles/{b('Profile')}/unmerge", {"merge_id": a("ProfileMerge")}),
        ("POST", "/api/v1/reporting/reports", {"template_id": a("ReportTemplate"), "date_range": {
            "start": "2026-01-01", "end": "2026-01-31"}}),
        ("POST", "/api/v1/reporting/reports", {"template_id": "client_report", "date_range": {
            "start": "2026-01-01", "end": "2026-01-31"}, "filters": {"client_id": a("Client")}}),
        ("POST", "/api/v1/reporting/schedules", {"report_id": a("Report"), "frequency": "daily", "time": "08:00",
                                                 "recipients": ["x@example.com"]}),
        ("POST", "/api/v1/analytics/what-if", {"changes": [{"campaign_id": a("Campaign"), "budget": 10}]}),
        ("POST", "/api/v1/rules", {"name": "r", "conditions": [{"field": "roas", "operator": "less_than", "value": 1}],
                                   "actions": [{"type": "pause_campaign"}],
                                   "scope": {"type": "campaigns", "campaign_ids": [a("Campaign")]}}),
        ("POST", "/api/v1/rules", {"name": "r", "conditions": [{"field": "roas", "operator": "less_than", "value": 1}],
                                   "actions": [{"type": "notify"}],
                                   "scope": {"type": "client", "client_id": a("Client")}}),
        ("POST", "/api/v1/rules", {"name": "r", "conditions": [{"field": "roas", "operator": "less_than", "value": 1}],
                                   "actions": [{"type": "create_task", "assignee_ids": [a_user]}]}),
        ("POST", "/api/v1/campaign-builder/campaigns", {"platform": "demo", "ad_account_id": a("AdAccount"),
                                                        "name": "c", "objective": "conversions",
                                                        "budget": {"type": "daily", "amount": 10}}),
        ("POST", "/api/v1/campaign-builder/campaigns", {"platform": "demo",
                                                        "ad_account_id": objects[a_account].external_id,
                                                        "name": "c", "objective": "conversions",
                                                        "budget": {"type": "daily", "amount": 10}}),
    ]
    for method, path, body in attacks:
        response = attacker.generic(method, path, json.dumps(body), content_type="application/json")
        sent = {i for i in a_ids if i in json.dumps(body) or i in path}
        leaks = leaked(response.content, a_ids - sent)
        ok = response.status_code in (400, 403, 404, 409, 422) and not leaks
        hostile.expect("cross_tenant", f"{method} {path} naming tenant A's ids in the body", ok,
                       f"{response.status_code} leaks={sorted(leaks)[:2]} {response.content[:200]!r}")
    pointers = _pointers_to(tenant_b, a_ids)
    hostile.expect("cross_tenant", "no row of tenant B points at tenant A", not pointers, pointers[:10])
    hostile.expect("cross_tenant", "tenant A's rows unchanged", tenant_rows(world["tenant_a"]) == before)
