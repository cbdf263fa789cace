"""The trust gate's rule, its status endpoint, and the audit log: it records every decision and cannot be altered
through the API, the staff console, the ORM or the database."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts.models import Tenant, User
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TEST_PASSWORD, TenantFactory
from tests.helpers import assert_error
from trust.models import AuditLogEntry
from trust.selectors.gate import gate_decide
from trust.services import AUTOPILOT, Actor, gate_check

from .conftest import NOW, account, campaign, stored_signal
from .factories import AuditLogEntryFactory, CircuitBreakerFactory

pytestmark = pytest.mark.django_db
HUMAN = {"human": True, "actor_name": "ana@example.com"}
BOT = {"human": False, "actor_name": "Autopilot"}


@pytest.mark.parametrize("status, breaker, who, direction, pause_on_degraded, impact, expected", [
    ("healthy", None, BOT, "increase", True, None, "allowed"),
    ("healthy", None, BOT, "decrease", True, Decimal("600"), "held"),  # above require_approval_above 500
    ("healthy", None, HUMAN, "increase", True, Decimal("600"), "allowed"),
    ("healthy", "spend_spike", BOT, "decrease", True, None, "blocked"),
    ("healthy", "spend_spike", HUMAN, "decrease", True, None, "allowed"),
    ("degraded", None, BOT, "decrease", True, None, "held"),
    ("degraded", None, BOT, "increase", True, None, "blocked"),  # pause_on_degraded_signal: no more money
    ("degraded", None, BOT, "increase", False, None, "held"),
    ("degraded", None, HUMAN, "increase", True, None, "allowed"),  # the human is the approval
    ("unhealthy", None, BOT, "decrease", False, None, "blocked"),
    ("unhealthy", None, HUMAN, "decrease", False, None, "blocked"),
    ("no_data", None, BOT, "decrease", False, None, "blocked"),
    ("unhealthy", None, BOT, "neutral", True, None, "allowed"),  # informational actions change no money
])
def test_gate_rule(status, breaker, who, direction, pause_on_degraded, impact, expected):
    decision, reason = gate_decide(status=status, breaker_reason=breaker, direction=direction,
                                   pause_on_degraded=pause_on_degraded, money_impact=impact,
                                   approval_threshold=Decimal("500"), score=50, **who)
    assert decision == expected and reason


@pytest.fixture
def accounts(tenant):
    good, shaky, bad = (account(tenant, name=n) for n in ("Good", "Shaky", "Bad"))
    stored_signal(tenant, {good: (90, "healthy"), shaky: (55, "degraded"), bad: (20, "unhealthy")})
    return good, shaky, bad


def test_every_gate_question_is_audited_with_the_signal(tenant, accounts, scoped):
    good, shaky, bad = accounts
    answers = {}
    for acc in accounts:
        camp = campaign(tenant, acc, name=f"{acc.name} campaign")
        answers[acc.name] = gate_check(tenant=tenant, actor=AUTOPILOT, action="decrease_budget", campaign=camp,
                                       direction="decrease", money_impact=Decimal("20"))
    assert {k: v.decision for k, v in answers.items()} == {"Good": "allowed", "Shaky": "held", "Bad": "blocked"}
    entries = AuditLogEntry.objects.for_tenant(tenant).filter(event="gate").order_by("created_at")
    assert entries.count() == 3
    shaky_entry = entries.get(ad_account_id=shaky.pk)
    assert shaky_entry.decision == "held" and shaky_entry.actor_type == "autopilot"
    assert shaky_entry.signal["status"] == "degraded" and shaky_entry.signal["overall_score"] == 55
    assert shaky_entry.signal["signals"]["pixel_coverage"] == 55
    assert shaky_entry.details == {"direction": "decrease", "money_impact": 20.0}
    assert shaky_entry.target == "Shaky campaign (meta)"


def test_gate_status(api_client, tenant, accounts):
    good, shaky, bad = accounts
    CircuitBreakerFactory(tenant=tenant, ad_account=good, reason="connector_errors")
    AuditLogEntryFactory(tenant=tenant, decision="held")
    AuditLogEntryFactory(tenant=tenant, decision="blocked")
    AuditLogEntryFactory(tenant=tenant, decision="blocked")
    AuditLogEntryFactory(tenant=tenant, decision="allowed", created_at=NOW - dt.timedelta(hours=25))  # too old
    AuditLogEntryFactory(tenant=tenant, event="approval", decision="approved")  # not a gate answer
    body = api_client.get("/api/v1/trust/gate-status").json()
    assert body["last_24h"] == {"allowed": 0, "held": 1, "blocked": 2, "total": 3}
    by_name = {a["name"]: a for a in body["accounts"]}
    assert by_name["Good"]["state"] == "closed" and by_name["Good"]["circuit_breaker"]["reason"] == "connector_errors"
    assert by_name["Shaky"]["automation"] == {"increase": "blocked", "decrease": "held"}
    assert by_name["Shaky"]["state"] == "hold"
    assert by_name["Bad"]["automation"] == {"increase": "blocked", "decrease": "blocked"}
    assert by_name["Bad"]["signal"] == {"overall_score": 20, "status": "unhealthy"}
    assert body["settings"] == {"pause_on_degraded_signal": True, "require_approval_above": 500.0}
    assert body["overall"]["status"] == "degraded"


def test_audit_log_pages_and_filters(api_client, tenant, django_assert_max_num_queries):
    for i in range(7):
        AuditLogEntryFactory(tenant=tenant, decision="held" if i % 2 else "blocked",
                             created_at=NOW - dt.timedelta(minutes=i))
    AuditLogEntryFactory(tenant=TenantFactory())  # another tenant's
    with django_assert_max_num_queries(12):
        body = api_client.get("/api/v1/trust/audit-logs?page=1&limit=5").json()
    assert (body["total"], body["pages"], body["limit"], len(body["items"])) == (7, 2, 5, 5)
    first = body["items"][0]
    assert set(first) == {"id", "created_at", "event", "decision", "actor", "action", "action_id", "rule_id",
                          "ad_account_id", "campaign_id", "target", "reason", "signal", "details"}
    assert first["actor"] == {"type": "autopilot", "id": None, "name": "Autopilot"}
    assert api_client.get("/api/v1/trust/audit-logs?decision=held").json()["total"] == 3
    assert api_client.get("/api/v1/trust/audit-logs?event=approval").json()["total"] == 0
    assert api_client.get(f"/api/v1/trust/audit-logs/{first['id']}").json()["id"] == first["id"]
    assert_error(api_client.get("/api/v1/trust/audit-logs?decision=maybe"), 422)
    assert_error(api_client.get("/api/v1/trust/audit-logs?limit=500"), 422)


def test_audit_log_cannot_be_altered_through_the_api(api_client, tenant, make_key_client, user):
    entry = AuditLogEntryFactory(tenant=tenant)
    url = f"/api/v1/trust/audit-logs/{entry.pk}"
    for client in (api_client, make_key_client(user)):
        assert client.patch(url, {"decision": "allowed"}, format="json").status_code == 405
        assert client.put(url, {"decision": "allowed"}, format="json").status_code == 405
        assert client.delete(url).status_code == 405
        assert client.post("/api/v1/trust/audit-logs", {"decision": "allowed"}, format="json").status_code == 405
    assert AuditLogEntry.objects.for_tenant(tenant).get().reason == entry.reason


def test_audit_log_cannot_be_altered_through_the_orm(tenant, scoped):
    entry = AuditLogEntryFactory(tenant=tenant)
    entry.reason = "rewritten"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLogEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(PermissionError):
        AuditLogEntry.objects.filter(pk=entry.pk).delete()
    assert AuditLogEntry.objects.get(pk=entry.pk).reason != "rewritten"


def test_the_database_refuses_to_change_the_audit_log(tenant):
    entry = AuditLogEntryFactory(tenant=tenant)
    table = AuditLogEntry._meta.db_table
    pk = entry.pk.hex if connection.vendor == "sqlite" else entry.pk
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET reason = 'rewritten' WHERE id = %s", [pk])
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [entry.pk])
    assert AuditLogEntry.objects.for_tenant(tenant).get().reason == entry.reason


def test_deleting_a_whole_tenant_takes_its_audit_log(db):
    doomed = TenantFactory()
    AuditLogEntryFactory(tenant=doomed)
    Tenant.objects.filter(pk=doomed.pk).delete()
    assert not AuditLogEntry.objects.unscoped().filter(tenant_id=doomed.pk).exists()


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser(email="staff@stratum.test", password=TEST_PASSWORD)
    client.force_login(user)
    return client


def test_audit_log_is_read_only_in_the_staff_console(staff, tenant, rf):
    entry = AuditLogEntryFactory(tenant=tenant)
    model_admin = admin.site._registry[AuditLogEntry]
    request = rf.get("/admin/")
    request.user = User.objects.get(email="staff@stratum.test")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert model_admin.get_actions(request) == {}
    change = reverse("admin:trust_auditlogentry_change", args=[entry.pk])
    page = staff.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content and entry.reason.encode() in page.content
    assert staff.post(change, {"reason": "rewritten"}).status_code == 403
    assert staff.get(reverse("admin:trust_auditlogentry_delete", args=[entry.pk])).status_code == 403
    assert staff.post(reverse("admin:trust_auditlogentry_changelist"),
                      {"action": "delete_selected", "_selected_action": [str(entry.pk)]}).status_code in (200, 302)
    with tenant_scope(tenant):
        assert AuditLogEntry.objects.get(pk=entry.pk).reason == entry.reason


def test_human_actors(api_client, user):
    actor = Actor("user", str(user.pk), user.email, user=user)
    assert actor.is_human and actor.label == f"user:{user.pk}"
    assert not AUTOPILOT.is_human and AUTOPILOT.label == "autopilot"
