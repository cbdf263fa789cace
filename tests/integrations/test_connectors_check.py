"""`manage.py connectors_check`: versions with sunsets, and a read-only probe per configured provider."""
from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from integrations.versions import DEFAULT_VERSIONS
from stratum.api.tenancy import tenant_scope

from .factories import ConnectionFactory

GRAPH = f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}"
GADS = f"https://googleads.googleapis.com/{DEFAULT_VERSIONS['google']}"


def run(*args) -> str:
    out = io.StringIO()
    call_command("connectors_check", *args, stdout=out)
    return out.getvalue()


def test_prints_each_version_with_its_sunset(time_machine):
    time_machine.move_to(date(2026, 12, 7))
    out = run("--no-probe")
    assert "google      v26      2027-11-01*        329  ok      https://developers.google.com/ads/blog/posts/2025/09" in out
    assert "meta        v26.0    none set             -  ok      https://developers.facebook.com/" in out
    assert "hubspot     v3       2027-09-01*        268  ok" in out
    assert "FAIL" not in out


def test_a_version_near_its_sunset_fails_the_check(settings, time_machine):
    time_machine.move_to(date(2026, 12, 7))
    settings.META_GRAPH_VERSION = "v25.0"  # expires 2027-02-23: 78 days left, fine today
    assert "v25.0    2027-02-23          78  ok" in run("--no-probe")
    settings.GOOGLE_ADS_API_VERSION = "v22"
    with pytest.raises(CommandError):
        run("--no-probe")


def test_probes_each_configured_provider_with_an_active_connection(tenant, respx_mock, settings):
    settings.SNAPCHAT_CLIENT_ID = None  # not configured: skipped
    with tenant_scope(tenant):
        ConnectionFactory(tenant=tenant, provider="meta")
        ConnectionFactory(tenant=tenant, provider="google")
        ConnectionFactory(tenant=tenant, provider="hubspot", status="expired")
    me = respx_mock.get(f"{GRAPH}/me").respond(200, json={"id": "10158", "name": "Ada Admin"})
    respx_mock.get(f"{GADS}/customers:listAccessibleCustomers").respond(200, json={
        "resourceNames": ["customers/1111111111", "customers/2222222222"]})
    out = run("--tenant", tenant.slug)
    assert f"meta        ok ({tenant.slug}): token of Ada Admin" in out
    assert f"google      ok ({tenant.slug}): 2 accessible customer(s)" in out
    assert "snapchat    skipped: not configured" in out
    assert "hubspot     skipped: configured, but no active connection to probe with" in out
    assert me.calls[0].request.method == "GET" and "appsecret_proof" in str(me.calls[0].request.url)
    assert all(call.request.method == "GET" for call in respx_mock.calls)  # read-only


def test_a_failing_probe_fails_the_check(tenant, respx_mock):
    with tenant_scope(tenant):
        ConnectionFactory(tenant=tenant, provider="google")
    respx_mock.get(f"{GADS}/customers:listAccessibleCustomers").respond(403, json={"error": {
        "code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED",
        "details": [{"errors": [{"errorCode": {"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"},
                                 "message": "The developer token is only approved for use with test accounts."}]}]}})
    with pytest.raises(CommandError):
        run()


def test_unknown_tenant_is_an_error(db):
    with pytest.raises(CommandError, match="Unknown tenant"):
        run("--tenant", "nobody")
