"""seed_demo gives the demo tenant a degraded account, rules and actions awaiting approval — once."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from cdp.models import Event
from stratum.api.tenancy import tenant_scope
from trust.models import AuditLogEntry, AutopilotAction, Rule

pytestmark = pytest.mark.django_db


def test_seed_demo_is_meaningful_and_idempotent(api_client, tenant, user):
    out = io.StringIO()
    call_command("seed_demo", email=user.email, only="campaigns,trust", stdout=out)
    health = api_client.get("/api/v1/trust/signal-health").json()
    status = {a["name"]: a["status"] for a in health["accounts"]}
    assert status == {"Bluebird Software": "healthy", "Cedar Home": "degraded", "Northwind Apparel": "healthy"}
    cedar = next(a for a in health["accounts"] if a["name"] == "Cedar Home")
    assert 40 <= cedar["signals"][0]["score"] <= 45  # the website confirms ~42 % of what the platform reports
    rules = api_client.get("/api/v1/rules").json()
    assert rules["total"] == 4 and {r["frequency"] for r in rules["items"]} == {"hourly", "daily", "every_15_minutes"}
    pending = api_client.get("/api/v1/autopilot/pending-actions").json()
    assert pending["total"] >= 1
    assert any(i["signal"]["status"] == "degraded" for i in pending["items"])  # held on Cedar Home
    status = api_client.get("/api/v1/autopilot/status").json()
    assert status["enabled"] is True and status["mode"] == "balanced"
    with tenant_scope(tenant):
        counts = (Event.objects.count(), Rule.objects.count(), AutopilotAction.objects.count(),
                  AuditLogEntry.objects.count())
    call_command("seed_demo", email=user.email, only="campaigns,trust", stdout=out)
    with tenant_scope(tenant):
        assert (Event.objects.count(), Rule.objects.count(), AutopilotAction.objects.count(),
                AuditLogEntry.objects.count()) == counts
    assert "seeding trust" in out.getvalue()
