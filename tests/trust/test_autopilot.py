"""Autopilot: the engine's proposals with exact figures, the gate in front of every one of them (a degraded signal
holds, an unhealthy one blocks), approvals, rejections, rollbacks, circuit breakers, settings, plan and scopes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import Notification
from campaigns.connectors.base import ConnectorError
from campaigns.models import Campaign
from stratum.api.models import OutboxEvent
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import assert_error, client_for
from trust.models import AuditLogEntry, AutopilotAction, CircuitBreaker
from trust.services import autopilot_run, circuit_breakers_check

from .conftest import NOW, account, campaign, daily, purchases
from .factories import AutopilotActionFactory, CircuitBreakerFactory

pytestmark = pytest.mark.django_db


def engine_world(tenant, *, quality="healthy"):
    """One meta account with three campaigns over 30 days (balanced mode, target ROAS 2, cap 20 % → steps of 15 %):
    a loser to pause (ROAS 0.8 on 28 conversions), a budget-limited winner (ROAS 5) and a donor (ROAS 1.8).
    `quality` sets how much of the platform's 119 conversions first-party tracking confirms."""
    acc = account(tenant, hours_since_sync=30 if quality == "unhealthy" else 1)
    loser = campaign(tenant, acc, name="Loser", budget="100.00")
    daily(tenant, loser, range(0, 30), spend=100, revenue=80, conversions=2)
    winner = campaign(tenant, acc, name="Winner", budget="200.00")
    daily(tenant, winner, range(0, 30), spend=198, revenue=990, conversions=10)
    donor = campaign(tenant, acc, name="Donor", budget="150.00")
    daily(tenant, donor, range(0, 30), spend=150, revenue=270, conversions=5)
    share = {"healthy": 1.0, "degraded": 0.4, "unhealthy": 0.0}[quality]
    if share:
        count = round(119 * share)
        purchases(tenant, count, revenue=f"{9380 * share / count:.2f}", properties={"ad_account_id": acc.external_id})
    else:
        purchases(tenant, 1, properties={"ad_account_id": acc.external_id}, days_ago=30)  # set up, nothing recent
    return acc, loser, winner, donor


def by_campaign(actions) -> dict:
    return {a["campaign"]["name"]: a for a in actions}


def test_healthy_signal_executes_through_the_platform(api_client, tenant, autopilot_on, platform):
    acc, loser, winner, donor = engine_world(tenant)
    body = api_client.post("/api/v1/autopilot/run").json()
    assert body["signal_health"]["status"] == "healthy"
    assert (body["proposed"], body["executed"], body["pending"], body["blocked"]) == (3, 3, 0, 0)
    actions = by_campaign(body["actions"])
    assert actions["Loser"]["type"] == "pause_campaign" and actions["Loser"]["status"] == "executed"
    assert actions["Loser"]["before"]["status"] == "active" and actions["Loser"]["after"]["status"] == "paused"
    assert actions["Loser"]["money_impact"] == 100.0
    assert actions["Winner"]["type"] == "increase_budget" and actions["Winner"]["after"]["budget_amount"] == "222.50"
    assert actions["Donor"]["type"] == "decrease_budget" and actions["Donor"]["after"]["budget_amount"] == "127.50"
    assert actions["Winner"]["group_id"] == actions["Donor"]["group_id"] is not None
    evidence = actions["Loser"]["evidence"]
    assert (evidence["roas"], evidence["conversions"], evidence["spend"]) == (0.8, 28.0, 1400.0)
    assert evidence["window"] == {"start_date": "2026-03-04", "end_date": "2026-03-17", "recent_from": "2026-03-11"}
    assert platform.calls == [("status", loser.external_id, "paused"),
                              ("budget", winner.external_id, Decimal("222.50")),
                              ("budget", donor.external_id, Decimal("127.50"))]
    with tenant_scope(tenant):
        assert Campaign.objects.get(pk=winner.pk).budget_amount == Decimal("222.50")
        events = list(OutboxEvent.objects.filter(event_type="autopilot.action").order_by("created_at"))
        assert [e.data["type"] for e in events] == ["pause_campaign", "increase_budget", "decrease_budget"]
        assert events[1].data["before"]["budget_amount"] == "200.00" and events[1].data["after"]["budget_amount"] == \
            "222.50"
        assert OutboxEvent.objects.filter(event_type="campaign.paused").get().data["actor"] == "autopilot"
        log = {e.event: e for e in AuditLogEntry.objects.filter(campaign_id=winner.pk)}  # the clock is frozen
        assert {k: e.decision for k, e in log.items()} == {"gate": "allowed", "execution": "executed"}
        execution = log["execution"]
        assert execution.details["before"]["budget_amount"] == "200.00" and execution.signal["status"] == "healthy"
    again = api_client.post("/api/v1/autopilot/run").json()
    assert again["proposed"] == 0  # nothing twice in 24 hours
    status = api_client.get("/api/v1/autopilot/status").json()
    assert status["last_action"].startswith("2026-03-18T15:00:00") and status["pending_actions"] == 0


def test_degraded_signal_holds_the_action(api_client, tenant, autopilot_on, platform):
    acc, loser, winner, donor = engine_world(tenant, quality="degraded")
    body = api_client.post("/api/v1/autopilot/run").json()
    assert body["signal_health"] == {"overall_score": 67, "status": "degraded"}
    actions = by_campaign(body["actions"])
    assert actions["Loser"]["status"] == "pending" and "degraded (67/100)" in actions["Loser"]["hold_reason"]
    assert actions["Donor"]["status"] == "pending"
    assert actions["Winner"]["status"] == "blocked"  # pause_on_degraded_signal: never more money on shaky data
    assert "pause_on_degraded_signal" in actions["Winner"]["hold_reason"]
    assert platform.calls == []
    with tenant_scope(tenant):
        assert Campaign.objects.get(pk=loser.pk).status == "active"
        decisions = AuditLogEntry.objects.filter(event="gate").values_list("decision", flat=True)
        assert sorted(decisions) == ["blocked", "held", "held"]
    pending = api_client.get("/api/v1/autopilot/pending-actions").json()
    assert pending["total"] == 2 and {i["campaign"]["name"] for i in pending["items"]} == {"Loser", "Donor"}
    status = api_client.get("/api/v1/autopilot/status").json()
    assert (status["pending_actions"], status["blocked_actions"]) == (2, 1)


def test_degraded_signal_holds_increases_too_without_pause_on_degraded(api_client, tenant, autopilot_on):
    engine_world(tenant, quality="degraded")
    api_client.patch("/api/v1/autopilot/settings", {"pause_on_degraded_signal": False}, format="json")
    actions = by_campaign(api_client.post("/api/v1/autopilot/run").json()["actions"])
    assert {name: a["status"] for name, a in actions.items()} == {"Loser": "pending", "Winner": "pending",
                                                                  "Donor": "pending"}


def test_unhealthy_signal_blocks_the_action(api_client, tenant, autopilot_on, platform):
    acc, loser, winner, donor = engine_world(tenant, quality="unhealthy")
    body = api_client.post("/api/v1/autopilot/run").json()
    assert body["signal_health"]["status"] == "unhealthy"
    assert {a["status"] for a in body["actions"]} == {"blocked"} and len(body["actions"]) == 3
    assert all("unhealthy" in a["hold_reason"] for a in body["actions"])
    assert platform.calls == []
    with tenant_scope(tenant):
        assert Campaign.objects.get(pk=loser.pk).status == "active"
        assert set(AuditLogEntry.objects.filter(event="gate").values_list("decision", flat=True)) == {"blocked"}
    assert api_client.get("/api/v1/autopilot/pending-actions").json()["total"] == 0


def test_money_above_the_threshold_waits_for_approval(api_client, tenant, autopilot_on, platform, user):
    acc, loser, winner, donor = engine_world(tenant)
    api_client.patch("/api/v1/autopilot/settings", {"require_approval_above": 50}, format="json")
    actions = by_campaign(api_client.post("/api/v1/autopilot/run").json()["actions"])
    assert actions["Loser"]["status"] == "pending"  # pausing stops 100.00 a day
    assert "above require_approval_above 50.00" in actions["Loser"]["hold_reason"]
    assert actions["Winner"]["status"] == actions["Donor"]["status"] == "executed"  # 22.50 each
    note = Notification.objects.for_tenant(tenant).get(user=user, category="budget_alerts")
    assert note.title == "Autopilot: 1 action awaiting approval"
    approved = api_client.post(f"/api/v1/autopilot/actions/{actions['Loser']['id']}/approve").json()
    assert approved["status"] == "executed" and approved["decided_by"]["email"] == user.email
    assert platform.calls[-1] == ("status", loser.external_id, "paused")
    with tenant_scope(tenant):
        log = AuditLogEntry.objects.filter(action_id=actions["Loser"]["id"])
        assert sorted((e.event, e.decision, e.actor_type) for e in log) == [
            ("approval", "approved", "user"), ("execution", "executed", "user"), ("gate", "allowed", "user"),
            ("gate", "held", "autopilot")]
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{actions['Loser']['id']}/approve"), 409,
                 "ACTION_NOT_PENDING")
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{actions['Loser']['id']}/reject", {}, format="json"),
                 409, "ACTION_NOT_PENDING")


@pytest.fixture
def pending(tenant):
    acc = account(tenant)
    camp = campaign(tenant, acc, name="Waiting", budget="100.00")
    from .conftest import stored_signal

    stored_signal(tenant, {acc: (85, "healthy")})
    return AutopilotActionFactory(tenant=tenant, campaign=camp, kind="decrease_budget",
                                  after={"status": "active", "budget_amount": "80.00", "budget_type": "daily"})


def test_reject_with_a_reason(api_client, tenant, pending):
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{pending.pk}/reject", {"why": "x"}, format="json"), 422)
    body = api_client.post(f"/api/v1/autopilot/actions/{pending.pk}/reject", {"reason": "Budget constraints"},
                           format="json").json()
    assert body["status"] == "rejected" and body["decision_note"] == "Budget constraints"
    with tenant_scope(tenant):
        entry = AuditLogEntry.objects.get(event="approval")
        assert (entry.decision, entry.reason) == ("rejected", "Budget constraints")
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{pending.pk}/reject", {}, format="json"), 409,
                 "ACTION_NOT_PENDING")


def test_approval_is_refused_while_the_signal_is_unhealthy(api_client, tenant, pending, platform):
    from trust.models import SignalHealthSnapshot

    SignalHealthSnapshot.objects.for_tenant(tenant).update(status="unhealthy", overall_score=20)
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{pending.pk}/approve"), 409, "TRUST_GATE_BLOCKED")
    pending.refresh_from_db()
    assert pending.status == "pending" and platform.calls == []


def test_a_campaign_changed_since_the_proposal_makes_the_action_stale(api_client, tenant, pending, platform):
    Campaign.objects.for_tenant(tenant).filter(pk=pending.campaign_id).update(budget_amount=Decimal("90.00"))
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{pending.pk}/approve"), 409, "ACTION_STALE")
    pending.refresh_from_db()
    assert pending.status == "expired" and platform.calls == []


def test_rollback_restores_the_values_before(api_client, tenant, autopilot_on, platform, user):
    acc, loser, winner, donor = engine_world(tenant)
    actions = by_campaign(api_client.post("/api/v1/autopilot/run").json()["actions"])
    increase = actions["Winner"]
    response = api_client.post(f"/api/v1/autopilot/actions/{increase['id']}/rollback")
    assert response.status_code == 201
    undo = response.json()
    assert undo["source"] == "rollback" and undo["rollback_of"] == increase["id"] and undo["status"] == "executed"
    assert undo["type"] == "decrease_budget" and undo["after"]["budget_amount"] == "200.00"
    assert platform.calls[-1] == ("budget", winner.external_id, Decimal("200.00"))
    original = api_client.get(f"/api/v1/autopilot/actions/{increase['id']}").json()
    assert original["status"] == "rolled_back" and original["rolled_back_by"] == undo["id"]
    with tenant_scope(tenant):
        assert Campaign.objects.get(pk=winner.pk).budget_amount == Decimal("200.00")
        assert OutboxEvent.objects.filter(event_type="autopilot.action", data__rollback_of=increase["id"]).exists()
        assert OutboxEvent.objects.get(event_type="budget.changed", data__new_budget=200.0).data["actor"] == \
            f"user:{user.pk}"
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{increase['id']}/rollback"), 409, "ALREADY_ROLLED_BACK")
    Campaign.objects.for_tenant(tenant).filter(pk=donor.pk).update(budget_amount=Decimal("140.00"))
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{actions['Donor']['id']}/rollback"), 409,
                 "CAMPAIGN_CHANGED")


def test_rollback_of_a_pending_action_is_refused(api_client, pending):
    assert_error(api_client.post(f"/api/v1/autopilot/actions/{pending.pk}/rollback"), 409, "ACTION_NOT_EXECUTED")


def test_platform_errors_fail_the_action_and_trip_the_breaker(api_client, tenant, autopilot_on, platform, user):
    acc, loser, winner, donor = engine_world(tenant)
    platform.fail_with = ConnectorError("Meta is down", code="PLATFORM_UNAVAILABLE", retryable=True)
    body = api_client.post("/api/v1/autopilot/run").json()
    assert body["failed"] == 3
    assert all(a["status"] == "failed" and "PLATFORM_UNAVAILABLE" in a["error"] for a in body["actions"])
    with tenant_scope(tenant):
        assert AuditLogEntry.objects.filter(event="execution", decision="failed").count() == 3
        breaker = CircuitBreaker.objects.get(ad_account=acc)
        assert breaker.state == "open" and breaker.reason == "connector_errors"
        assert len(breaker.details["execution_failures"]) == 3
        assert AuditLogEntry.objects.filter(event="breaker", decision="tripped").count() == 1
    assert Notification.objects.for_tenant(tenant).filter(user=user, category="budget_alerts",
                                                          title__startswith="Automation stopped").exists()
    gate = api_client.get("/api/v1/trust/gate-status").json()
    assert gate["accounts"][0]["state"] == "closed"
    breakers = api_client.get("/api/v1/autopilot/circuit-breakers?state=open").json()
    assert breakers["total"] == 1 and breakers["items"][0]["ad_account"]["name"] == "Main account"
    resumed = api_client.post(f"/api/v1/autopilot/circuit-breakers/{breaker.pk}/resume").json()
    assert resumed["state"] == "closed" and resumed["resumed_by"] == user.email
    assert_error(api_client.post(f"/api/v1/autopilot/circuit-breakers/{breaker.pk}/resume"), 409, "BREAKER_NOT_OPEN")
    with tenant_scope(tenant):
        assert circuit_breakers_check(tenant=tenant) == []  # the failures before the resume no longer count


def test_a_success_rolled_back_since_breaks_a_run_of_failures(tenant, scoped):
    acc = account(tenant)
    camp = campaign(tenant, acc)
    for hours, status in ((4, "failed"), (3, "rolled_back"), (2, "failed"), (1, "failed")):
        AutopilotActionFactory(tenant=tenant, campaign=camp, status=status,
                               executed_at=NOW - dt.timedelta(hours=hours))
    assert circuit_breakers_check(tenant=tenant) == []  # the last three: failed, failed, a success
    AutopilotActionFactory(tenant=tenant, campaign=camp, status="failed", executed_at=NOW)
    (breaker,) = circuit_breakers_check(tenant=tenant)
    assert breaker.reason == "connector_errors" and len(breaker.details["execution_failures"]) == 3


def test_spend_spike_stops_automation_on_the_account(tenant, autopilot_on, platform, user, scoped):
    acc, loser, winner, donor = engine_world(tenant)
    spiky = campaign(tenant, acc, name="Runaway", budget="50.00")
    daily(tenant, spiky, range(2, 16), spend=50, revenue=100, conversions=1)
    daily(tenant, spiky, [1], spend=2000, revenue=100, conversions=1)  # yesterday: ×~8 the account's mean day
    (breaker,) = circuit_breakers_check(tenant=tenant)
    assert breaker.reason == "spend_spike" and breaker.details["date"] == "2026-03-17"
    assert breaker.details["spend"] == 2448.0 and breaker.details["baseline_mean"] == 498.0
    result = autopilot_run(tenant=tenant)
    assert result["proposed"] == 0  # an open breaker: the account is left alone
    from trust.services import AUTOPILOT, gate_check

    decision = gate_check(tenant=tenant, actor=AUTOPILOT, action="decrease_budget", campaign=donor,
                          direction="decrease")
    assert decision.decision == "blocked" and "circuit breaker" in decision.reason
    assert platform.calls == []


def test_pending_actions_expire(tenant, pending, scoped, settings):
    from trust.tasks import trust_housekeeping

    AutopilotAction.objects.filter(pk=pending.pk).update(expires_at=NOW - dt.timedelta(minutes=1))
    assert trust_housekeeping()["expired"] == 1
    pending.refresh_from_db()
    assert pending.status == "expired"
    assert AuditLogEntry.objects.get(event="expiry").action_id == pending.pk


def test_status_and_settings(api_client, tenant, user):
    status = api_client.get("/api/v1/autopilot/status").json()
    assert status == {"enabled": False, "mode": "conservative", "last_action": None, "pending_actions": 0,
                      "blocked_actions": 0, "last_run_at": None, "circuit_breakers_open": 0,
                      "settings": {"max_budget_change_percent": 20, "require_approval_above": 500.0,
                                   "pause_on_degraded_signal": True, "target_roas": 2.0}}
    body = api_client.patch("/api/v1/autopilot/settings", {"enabled": True, "mode": "aggressive",
                                                           "max_budget_change_percent": 30}, format="json").json()
    assert (body["enabled"], body["mode"], body["settings"]["max_budget_change_percent"]) == (True, "aggressive", 30)
    nested = api_client.patch("/api/v1/autopilot/settings", {"settings": {"require_approval_above": 250.5}},
                              format="json").json()
    assert nested["settings"]["require_approval_above"] == 250.5
    with tenant_scope(tenant):
        entry = AuditLogEntry.objects.filter(event="settings").order_by("created_at").first()
        assert entry.details["changes"]["mode"] == {"from": "conservative", "to": "aggressive"}
        assert entry.actor_type == "user" and entry.actor_id == str(user.pk)


@pytest.mark.parametrize("body, field", [
    ({"mode": "yolo"}, "mode"), ({"max_budget_change_percent": 0}, "max_budget_change_percent"),
    ({"max_budget_change_percent": 101}, "max_budget_change_percent"),
    ({"require_approval_above": -1}, "require_approval_above"), ({"target_roas": 0}, "target_roas"),
    ({"enabled": "sometimes"}, "enabled"), ({"autopilot_everything": True}, "autopilot_everything"),
    ({"settings": {"max_budget_change_percent": 500}}, "settings.max_budget_change_percent"),
    ({"mode": "balanced", "settings": {"pizza": 1}}, "settings.pizza"),
])
def test_settings_out_of_range_are_422(api_client, body, field):
    error = assert_error(api_client.patch("/api/v1/autopilot/settings", body, format="json"), 422, "VALIDATION_ERROR")
    assert field in error["errors"]
    assert api_client.get("/api/v1/autopilot/status").json()["mode"] == "conservative"


def test_run_while_disabled_is_409(api_client):
    assert_error(api_client.post("/api/v1/autopilot/run"), 409, "AUTOPILOT_DISABLED")


def test_plan_roles_and_scopes(db, make_key_client):
    starter = TenantFactory(plan="starter")
    owner = UserFactory(tenant=starter, role="owner")
    client = client_for(owner)
    for method, url in (("get", "/api/v1/autopilot/status"), ("patch", "/api/v1/autopilot/settings"),
                        ("get", "/api/v1/autopilot/pending-actions"), ("post", "/api/v1/autopilot/run"),
                        ("get", "/api/v1/rules")):
        assert_error(getattr(client, method)(url, {}, format="json"), 403, "FEATURE_NOT_AVAILABLE")
    assert client.get("/api/v1/trust/signal-health").status_code == 200  # the trust layer is on every plan
    pro = TenantFactory(plan="professional")
    analyst = client_for(UserFactory(tenant=pro, role="analyst"))
    assert analyst.get("/api/v1/autopilot/status").status_code == 200
    assert_error(analyst.patch("/api/v1/autopilot/settings", {"enabled": True}, format="json"), 403)
    manager = UserFactory(tenant=pro, role="manager")
    assert client_for(manager).patch("/api/v1/autopilot/settings", {"enabled": True}, format="json").status_code == 200
    reader = make_key_client(manager, scopes=["read:trust"])
    assert reader.get("/api/v1/autopilot/status").status_code == 200
    assert_error(reader.patch("/api/v1/autopilot/settings", {"enabled": False}, format="json"), 403)
    writer = make_key_client(manager, scopes=["write:trust"])
    assert writer.patch("/api/v1/autopilot/settings", {"enabled": False}, format="json").json()["enabled"] is False


def test_lists_have_constant_queries(api_client, tenant, django_assert_max_num_queries):
    for _ in range(8):
        AutopilotActionFactory(tenant=tenant)
    CircuitBreakerFactory(tenant=tenant)
    with django_assert_max_num_queries(12):
        assert api_client.get("/api/v1/autopilot/pending-actions").json()["total"] == 8
    with django_assert_max_num_queries(12):
        assert api_client.get("/api/v1/autopilot/actions?status=pending&limit=5").json()["pages"] == 2
    with django_assert_max_num_queries(12):
        assert api_client.get("/api/v1/autopilot/circuit-breakers").json()["total"] == 1
    assert_error(api_client.get("/api/v1/autopilot/actions?status=sleeping"), 422)


def test_another_tenants_action_is_404(api_client):
    foreign = AutopilotActionFactory(tenant=TenantFactory())
    for suffix in ("", "/approve", "/reject", "/rollback"):
        method = api_client.get if not suffix else api_client.post
        assert_error(method(f"/api/v1/autopilot/actions/{foreign.pk}{suffix}"), 404, "NOT_FOUND")
    foreign.refresh_from_db()
    assert foreign.status == "pending"


def test_the_schedule_runs_enabled_tenants_only(tenant, autopilot_on, settings):
    from trust import tasks

    engine_world(tenant)
    TenantFactory(plan="enterprise")  # autopilot never enabled
    assert tasks.autopilot_run_due() == 1
    with tenant_scope(tenant):
        assert AutopilotAction.objects.filter(status="executed").count() == 3
    assert settings.CELERY_BEAT_SCHEDULE["trust.autopilot_run_due"]["schedule"] == \
        settings.AUTOPILOT_INTERVAL_MINUTES * 60.0


def test_one_run_at_a_time(api_client, tenant, autopilot_on):
    from django.core.cache import cache

    cache.add(f"trust:autopilot-run:{tenant.pk}", 1, timeout=60)
    assert_error(api_client.post("/api/v1/autopilot/run"), 409, "AUTOPILOT_RUNNING")
    cache.delete(f"trust:autopilot-run:{tenant.pk}")
    assert api_client.post("/api/v1/autopilot/run").status_code == 200
