"""Regression tests for what the schema fuzzer (test_schema_fuzz.py) found, as plain requests.

They run on every database (the fuzz itself runs once per CI run, on PostgreSQL). Each test names the
defect: what the fuzzer sent, what the API answered, and what it answers now.
"""
from __future__ import annotations

import pytest
from django.test import Client

from tests.helpers import assert_error


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unsafe_method_on_an_unknown_api_url_is_a_json_404_not_the_csrf_page(db, method):
    """Found: PATCH /api/v1/campaigns/%F3%A3%96%A6 (a path parameter no route matches) answered Django's HTML
    "403 CSRF cookie not set" page. A real client is CSRF-checked (the test client is not by default)."""
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/campaigns/\u00e9\u00e8/not-a-route", data="{}",
                                       content_type="application/json", HTTP_AUTHORIZATION="Bearer whatever")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 404, "NOT_FOUND")


# --- the schema promised other answers than the API gives ------------------------------------

@pytest.fixture(scope="module")
def openapi():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _responses(openapi, method: str, path: str) -> dict:
    return openapi["paths"][path][method]["responses"]


def _json_schema(openapi, method: str, path: str, status: str) -> dict:
    schema = _responses(openapi, method, path)[status]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_error_answer_is_documented_in_the_error_format(openapi):
    """Found: 401/403/404/422 answers of every operation were undocumented (only 2xx were)."""
    error = openapi["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "code", "status_code", "message"}
    undocumented = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = set(operation["responses"])
            # /v1/* (Segment's Tracking API, write keys) name no object, so it has no 404 to document.
            needed = {"401", "403", "404"} if path.startswith("/api/") else {"401", "403"}
            if operation.get("security") and not needed <= codes:
                undocumented.append(f"{method.upper()} {path}: {sorted(codes)}")
            for code, response in operation["responses"].items():
                if code.isdigit() and int(code) >= 400 and path.startswith("/api/") and code != "503":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                        (method, path, code)
    assert not undocumented, undocumented


@pytest.mark.parametrize("method,path,code", [
    ("post", "/api/v1/auth/login", "401"),
    ("post", "/api/v1/auth/refresh", "401"),
    ("get", "/api/v1/auth/verify-email", "400"),
    ("post", "/api/v1/autopilot/actions/{id}/approve", "409"),
    ("post", "/api/v1/autopilot/actions/{id}/reject", "409"),
    ("post", "/api/v1/autopilot/actions/{id}/rollback", "409"),
    ("post", "/api/v1/autopilot/circuit-breakers/{id}/resume", "409"),
    ("post", "/api/v1/cdp/audience-sync/audiences/{id}/sync", "409"),
    ("get", "/api/v1/cdp/audiences/exports/{id}/download", "409"),
    ("delete", "/api/v1/cdp/segments/{id}", "409"),
    ("get", "/api/v1/reporting/reports/{id}/download", "409"),
    ("post", "/api/v1/creative-submissions/{id}/approve", "409"),
    ("get", "/api/v1/integrations/{platform}/accounts", "409"),
    ("put", "/api/v1/integrations/{platform}/accounts", "502"),
    ("get", "/api/v1/integrations/crm/{provider}/settings", "409"),
    ("post", "/api/v1/integrations/crm/sync", "409"),
    ("post", "/api/v1/payments/webhook", "503"),
    ("post", "/api/v1/subscription/cancel", "503"),
    ("patch", "/api/v1/campaigns/{id}", "502"),
])
def test_status_codes_the_fuzzer_received_are_documented(openapi, method, path, code):
    """Found: these answers (conflicts, provider failures, not configured, bad credentials) were undocumented."""
    assert code in _responses(openapi, method, path)


@pytest.mark.parametrize("path", ["/api/v1/clients/{client_id}", "/api/v1/tasks/{task_id}",
                                  "/api/v1/tasks/comments/{comment_id}", "/api/v1/alerts/{alert_id}"])
def test_catalyst_deletes_are_documented_as_200_envelopes(openapi, path):
    """Found: DELETE /api/v1/tasks/{id} answered 200 {status_code, message, data: {id}}; the schema said 204."""
    responses = _responses(openapi, "delete", path)
    assert "204" not in responses
    assert set(_json_schema(openapi, "delete", path, "200")["properties"]) == {"status_code", "message", "data"}


@pytest.mark.parametrize("path,list_key", [("/api/v1/alerts/instances", "instances"),
                                           ("/api/v1/leadscoring/results", "results"),
                                           ("/api/v1/tasks", "tasks"), ("/api/v1/clients", "clients")])
def test_catalyst_pages_are_documented_as_one_envelope(openapi, path, list_key):
    """Found: GET /api/v1/alerts/instances answered {status_code, message, data: {instances, ...}}; the schema
    said a list of such envelopes."""
    schema = _json_schema(openapi, "get", path, "200")
    assert schema.get("type") != "array"
    data = schema["properties"]["data"]
    if "$ref" in data:
        data = openapi["components"]["schemas"][data["$ref"].rsplit("/", 1)[1]]
    assert list_key in data["properties"]


@pytest.mark.parametrize("path", ["/api/v1/analytics/churn/profiles", "/api/v1/autopilot/pending-actions",
                                  "/api/v1/campaign-builder/accounts", "/api/v1/subscription/plans",
                                  "/api/v1/trust/signal-health/history", "/api/v1/cdp/events",
                                  "/api/v1/integrations/connections", "/api/v1/integrations/crm/runs"])
def test_hand_paginated_lists_are_documented_as_stratum_pages(openapi, path):
    """Found: GET /api/v1/autopilot/pending-actions answered {items, total, page, pages, limit}; the schema
    said a plain array."""
    schema = _json_schema(openapi, "get", path, "200")
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"items", "total", "page", "pages", "limit"}
    assert schema["properties"]["items"]["type"] == "array"


# --- bodies that did not match their schema ---------------------------------------------------

def test_profile_without_phone_answers_null_and_the_schema_allows_it(openapi, api_client, tenant):
    """Found: GET /api/v1/cdp/profiles/{id} answered "phone": null, "external_id": null; the schema said string."""
    from tests.cdp.factories import ProfileFactory

    profile = ProfileFactory(tenant=tenant)
    body = api_client.get(f"/api/v1/cdp/profiles/{profile.pk}").json()
    assert body["phone"] is None and body["external_id"] is None
    properties = openapi["components"]["schemas"]["Profile"]["properties"]
    assert all(properties[key].get("nullable") for key in ("phone", "external_id", "email"))


def test_blank_urls_answer_empty_strings_and_the_schema_allows_them(openapi, api_client):
    """Found: POST /api/v1/clients {"name": ...} answered "logo": "", which is no `uri` (also invoice URLs)."""
    body = api_client.post("/api/v1/clients", {"name": "Acme"}, format="json").json()
    assert body["data"]["logo"] == ""
    components = openapi["components"]["schemas"]
    for component, prop in (("Client", "logo"), ("Invoice", "hosted_invoice_url"), ("Invoice", "invoice_pdf")):
        variants = components[component]["properties"][prop]["oneOf"]
        assert {"type": "string", "maxLength": 0} in variants
        assert any(v.get("format") == "uri" for v in variants)
    assert components["CheckoutRequestRequest"]["properties"]["success_url"]["format"] == "uri"  # requests: strict


def test_an_enabled_webhook_answers_a_blank_disabled_reason_the_schema_allows(openapi, api_client, tenant):
    """Found: GET /api/v1/webhooks answered "disabled_reason": "" — not one of manual, gone, failing."""
    from tests.webhooks.factories import WebhookFactory

    webhook = WebhookFactory(tenant=tenant)
    assert api_client.get(f"/api/v1/webhooks/{webhook.pk}").json()["disabled_reason"] == ""
    variants = openapi["components"]["schemas"]["Webhook"]["properties"]["disabled_reason"]["oneOf"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in variants
