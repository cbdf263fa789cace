"""SQL and JSON-path injection in filters, search, ordering and segment fields.

Tenant B attacks with its own data in place (one row of every model, so filters have rows to work on); tenant A's
ids are the canaries: none may appear in any answer. Nothing may be executed — after the run every table is still
there with its rows, nobody became a superuser — and nothing answers 5xx.
"""
from __future__ import annotations

import itertools
import json

import pytest
from django.db import connection

from accounts.models import User
from tests.api.test_tenant_isolation import world  # noqa: F401  (the walker's two-tenant world)
from tests.factories import all_factories
from tests.security.kit import is_error_format, leaked, own_url, query_params, routes, tenant_owned_models, tenant_rows

# Sent to every documented query parameter.
SQL = ("' OR '1'='1", "1; DROP TABLE accounts_user; --", "traits.x'); DROP TABLE cdp_profile;--", "a\x00b")
# One of these per parameter, in turn (each reaches a few dozen parameters over the run).
ROTATING = (
    "1 UNION SELECT id, email, password FROM accounts_user --", "') OR ('a'='a", "\" OR \"\"=\"",
    "%' OR tenant_id IS NOT NULL OR '%'='",
    "'; UPDATE accounts_user SET is_superuser = true; --", "00000000-0000-0000-0000-000000000000' OR '1'='1",
    "traits.a.b[0]", "$.traits.email", "traits->>'email'", "properties__0", "a__b__contains", "tenant__name",
    "-tenant__id", "password", "created_by__password", "__class__", "\u202e\u0000", "%00", "💥" * 50, "A" * 5000,
    "1e309", "-1", "NaN", "[]", "{\"$gt\": \"\"}", "../../etc/passwd", "*", "%", "_",
)
# Parameters that list endpoints commonly take even where a route does not document them.
COMMON = ("search", "ordering", "sort", "order", "q", "query")
SEGMENT_FIELDS = (
    "traits.x'); DROP TABLE cdp_profile;--", "traits.a.b[0]", "traits.a[0]", 'traits."a"', "traits.a'b", "traits.a b",
    "traits.", "traits..a", "traits.a.b.c.d.e.f.g", "traits." + "a" * 65, "traits.$.x", "traits.a->>'b'",
    "traits.__class__", "traits.a__b", "traits.a__", "traits.__", "email'; --", "tenant_id", "tenant__name", "id", "pk",
    "rfm__tenant__name", "merged_into__email", "traits.a%", "traits.\u0000", "traits.ключ", "rfm.segment' OR '1'='1",
    "predictions.x'; --", "properties.amount", "", None, 42, ["traits.a"], {"$ne": 1},
)
EVENT_PROPERTY_FIELDS = ("properties.x'); DROP TABLE cdp_event;--", "properties.a[0]", "properties.a__b",
                         "properties.__",
                         "tenant_id", "profile__email", "properties." + "b" * 65, "properties.a.b.c.d.e.f")


def _own_objects(tenant) -> dict:
    factories = all_factories()
    return {model: factories[model](tenant=tenant) for model in tenant_owned_models()}


def _database_intact(hostile, tables_before: set[str], rows_before: dict) -> None:
    tables = set(connection.introspection.table_names())
    hostile.expect("injection", "no table dropped", tables_before <= tables, sorted(tables_before - tables))
    hostile.expect("injection", "no superuser made", not User.objects.filter(is_superuser=True).exists())
    hostile.expect("injection", "tenant A's rows unchanged", rows_before["a"] == tenant_rows(rows_before["tenant_a"]))


def _check(hostile, label: str, response, a_ids: set[str]) -> None:
    ok = (response.status_code < 500 or response.status_code == 503 and is_error_format(response)
          and response.json()["code"].endswith("NOT_CONFIGURED"))  # a provider without credentials (documented)
    ok = ok and (response.status_code < 400 or is_error_format(response))
    leaks = leaked(response.content, a_ids) if response.status_code < 500 else set()
    hostile.expect("injection", label, ok and not leaks,
                   f"{response.status_code} leaks={sorted(leaks)[:2]} {response.content[:160]!r}")


@pytest.mark.attack("injection")
def test_query_parameters_of_every_route_are_inert(hostile, world, settings):
    settings.RATELIMIT_ENABLED = False
    attacker = world["clients_b"]["jwt"]
    tenant_b = attacker.user.tenant
    b_objects = _own_objects(tenant_b)
    a_ids = world["a_ids"]
    before = {"tenant_a": world["tenant_a"], "a": tenant_rows(world["tenant_a"])}
    tables = set(connection.introspection.table_names())
    rotating = itertools.cycle(ROTATING)
    walked = 0
    for route in routes():
        if "GET" not in route.methods or route.is_public or route.is_superadmin:
            continue
        url = own_url(route, b_objects)
        if url is None:
            continue
        walked += 1
        documented = query_params(route)
        for param in documented:
            for payload in (*SQL, next(rotating)):
                response = attacker.get(url, {param: payload})
                _check(hostile, f"GET {route.template}?{param}={payload[:30]!r}", response, a_ids)
        # Parameters the route does not document are ignored; one request carries them all.
        extra = {param: next(rotating) for param in COMMON if param not in documented}
        response = attacker.get(url, extra)
        _check(hostile, f"GET {route.template} with undocumented {sorted(extra)}", response, a_ids)
    _database_intact(hostile, tables, before)
    assert walked > 60


@pytest.mark.attack("injection")
def test_segment_and_funnel_fields_are_validated_never_interpolated(hostile, world, settings):
    settings.RATELIMIT_ENABLED = False
    attacker = world["clients_b"]["jwt"]
    _own_objects(attacker.user.tenant)
    a_ids = world["a_ids"]
    before = {"tenant_a": world["tenant_a"], "a": tenant_rows(world["tenant_a"])}
    tables = set(connection.introspection.table_names())
    for field in SEGMENT_FIELDS:
        for operator, value in (("equals", "x' OR '1'='1"), ("exists", None), ("contains", "%' OR 1=1 --")):
            conditions = {"operator": "and", "rules": [{"field": field, "operator": operator, "value": value}]}
            response = attacker.post("/api/v1/cdp/segments/preview", {"conditions": conditions}, format="json")
            label = f"segment field {str(field)[:40]!r} {operator}"
            _check(hostile, label, response, a_ids)
            if response.status_code == 422:
                errors = response.json().get("errors", {})
                hostile.expect("injection", label + " names the rule", any(k.startswith("conditions.rules[0]")
                                                                            for k in errors), errors)
        response = attacker.post("/api/v1/cdp/segments", {"name": f"s {field!s:.20}", "conditions": {
            "operator": "or", "rules": [{"field": field, "operator": "exists"}]}}, format="json")
        _check(hostile, f"segment create with field {str(field)[:40]!r}", response, a_ids)
    for field in EVENT_PROPERTY_FIELDS:
        conditions = {"rules": [{"event_type": "purchase'; DROP TABLE cdp_event; --", "operator": "greater_than",
                                 "value": 0, "where": [{"field": field, "operator": "equals",
                                                        "value": "1' OR '1'='1"}]}]}
        response = attacker.post("/api/v1/cdp/segments/preview", {"conditions": conditions}, format="json")
        _check(hostile, f"event rule property {field[:40]!r}", response, a_ids)
        response = attacker.post("/api/v1/analytics/funnels", {"name": "f", "steps": [
            {"event_type": "page_view", "where": [{"field": field, "operator": "equals", "value": "x' --"}]},
            {"event_type": "purchase"}]}, format="json")
        _check(hostile, f"funnel step property {field[:40]!r}", response, a_ids)
    funnel = attacker.post("/api/v1/analytics/funnels", {"name": "f", "steps": [
        {"event_type": "page_view"}, {"event_type": "purchase"}]}, format="json")
    funnel_id = funnel.json()["id"] if funnel.status_code == 201 else None
    for payload in ("properties.x'); DROP TABLE cdp_event;--", "properties.a[0]", "properties.a__b", "tenant__name",
                    "properties." + "c" * 100, "properties.__"):
        response = attacker.get("/api/v1/analytics/funnel", {"funnel_id": funnel_id or "x", "breakdown": payload})
        _check(hostile, f"funnel breakdown {payload[:40]!r}", response, a_ids)
    for field in ("roas'; DROP TABLE campaigns_campaign; --", "spend) OR (1=1", "tenant_id", "budget"):
        response = attacker.post("/api/v1/rules", {
            "name": "r", "conditions": {"operator": "and", "conditions": [{"field": field, "operator": "greater_than",
                                                                           "value": 1}]},
            "actions": [{"type": "notify", "message": "m"}], "scope": {"type": "all"}}, format="json")
        _check(hostile, f"rule condition field {field[:40]!r}", response, a_ids)
        hostile.expect("injection", f"rule condition field {field[:40]!r} refused", response.status_code == 422,
                       response.status_code)
    body = json.dumps({"conditions": {"rules": [{"field": "traits.plan", "operator": "in",
                                                 "value": ["x') OR 1=1 --",
                                                           "' UNION SELECT email FROM accounts_user"]}]}})
    _check(hostile, "segment values with SQL",
           attacker.post("/api/v1/cdp/segments/preview", body, content_type="application/json"), a_ids)
    _database_intact(hostile, tables, before)


@pytest.mark.attack("injection")
def test_nul_characters_in_bodies_are_refused_not_stored(hostile, world, settings):
    """PostgreSQL text and jsonb cannot hold U+0000: a body carrying one is a 422 naming where, never a 500."""
    settings.RATELIMIT_ENABLED = False
    attacker = world["clients_b"]["jwt"]
    bodies = (
        ("/api/v1/clients", {"name": "Acme\u0000Corp"}, "name"),
        ("/api/v1/cdp/events/track", {"event_type": "page_view", "user_id": "u1",
                                      "properties": {"path\u0000": "/"}}, "properties.path\\u0000"),
        ("/api/v1/cdp/events/track", {"event_type": "page_view", "user_id": "u1",
                                      "properties": {"list": ["ok", "bad\u0000"]}}, "properties.list[1]"),
        ("/api/v1/cdp/profiles", {"email": "nul@example.com", "traits": {"plan": "pro\u0000"}}, "traits.plan"),
        ("/api/v1/cdp/segments", {"name": "s", "conditions": {"rules": [
            {"field": "traits.plan", "operator": "equals", "value": "\u0000"}]}}, "conditions.rules[0].value"),
        ("/api/v1/auth/login", {"email": "a\u0000@example.com", "password": "x"}, "email"),
    )
    for path, body, where in bodies:
        client = attacker if "/auth/" not in path else type(attacker)()
        response = client.post(path, json.dumps(body), content_type="application/json")
        errors = response.json().get("errors", {}) if is_error_format(response) else {}
        hostile.expect("injection", f"NUL in the body of POST {path}", response.status_code == 422 and where in errors,
                       f"{response.status_code} {response.content[:200]!r}")
    for path in ("/api/v1/campaigns?search=a%00b", "/api/v1/cdp/profiles?query=%00",
                 "/api/v1/cdp/events?event_type=x%00",
                 "/api/v1/trust/audit-logs?action=%00", "/api/v1/campaigns?sea%00rch=1"):
        response = attacker.get(path)
        hostile.expect("injection", f"NUL in the query of GET {path}", response.status_code == 422
                       and is_error_format(response), response.status_code)
