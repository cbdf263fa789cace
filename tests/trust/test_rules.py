"""Automation rules: CRUD and every bad input, conditions compiled to one SQL aggregation (nested and/or,
metric-vs-metric, per-condition lookbacks), preview, runs through the trust gate with cooldowns, executions,
backtests and the schedule."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import Notification
from campaigns.models import Campaign
from stratum.api.models import OutboxEvent
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import assert_error, client_for
from tests.workflow.factories import ClientFactory
from trust.models import AuditLogEntry, AutopilotAction, Rule, RuleExecution, RuleFiring
from trust.selectors.rules import rule_evaluate
from workflow.models import Task

from .conftest import NOW, account, campaign, daily, stored_signal
from .factories import RuleFactory

pytestmark = pytest.mark.django_db

SPEC_RULE = {
    "name": "Pause Low ROAS Campaigns", "description": "Automatically pause campaigns with ROAS below 1.5",
    "enabled": True,
    "conditions": [{"field": "roas", "operator": "less_than", "value": 1.5},
                   {"field": "spend", "operator": "greater_than", "value": 100}],
    "actions": [{"type": "pause_campaign", "notify": True}], "frequency": "hourly",
}


@pytest.fixture
def world(tenant):
    """Alpha loses money (ROAS 0.8), Bravo earns (ROAS 5), Charlie started today, Delta is paused."""
    acc = account(tenant)
    alpha = campaign(tenant, acc, name="Alpha", budget="100.00")
    daily(tenant, alpha, range(0, 30), spend=100, revenue=80, conversions=2, impressions=10000, clicks=200)
    bravo = campaign(tenant, acc, name="Bravo", budget="200.00")
    daily(tenant, bravo, range(0, 30), spend=60, revenue=300, conversions=6, impressions=20000, clicks=100)
    charlie = campaign(tenant, acc, name="Charlie", budget="50.00")
    daily(tenant, charlie, [0], spend=40, revenue=0, conversions=0, impressions=1000, clicks=5)
    delta = campaign(tenant, acc, name="Delta", budget="80.00", status="paused")
    stored_signal(tenant, {acc: (90, "healthy")})
    return {"account": acc, "Alpha": alpha, "Bravo": bravo, "Charlie": charlie, "Delta": delta}


def matches(tenant, conditions, **fields) -> set[str]:
    rule = RuleFactory(tenant=tenant, conditions=conditions if isinstance(conditions, dict) else
                       {"operator": "and", "conditions": conditions}, **fields)
    with tenant_scope(tenant):
        return {row["name"] for row in rule_evaluate(tenant=tenant, rule=rule)}


def test_the_spec_example_matches_the_loser(api_client, world):
    created = api_client.post("/api/v1/rules", SPEC_RULE, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["conditions"] == [  # written as the reference's list, read back as that list
        {"field": "roas", "operator": "less_than", "value": 1.5},
        {"field": "spend", "operator": "greater_than", "value": 100}]
    assert api_client.get(f"/api/v1/rules/{body['id']}").json()["conditions"] == SPEC_RULE["conditions"]
    assert body["actions"] == [{"type": "pause_campaign", "notify": True}]
    assert (body["scope"], body["lookback"], body["cooldown_minutes"]) == (
        {"type": "all", "campaign_status": "active"}, "last_7d", 1440)
    preview = api_client.post(f"/api/v1/rules/{body['id']}/preview").json()
    assert preview["evaluated"] == 3 and preview["total"] == 1
    assert preview["conditions"] == "roas < 1.5 (last_7d) and spend > 100 (last_7d)"
    (item,) = preview["items"]
    assert item["name"] == "Alpha" and item["in_cooldown"] is False
    assert item["metrics"] == {"last_7d": {"roas": 0.8, "spend": 700.0, "revenue": 560.0}}
    assert not AutopilotAction.objects.unscoped().exists() and not RuleFiring.objects.unscoped().exists()
    assert not OutboxEvent.objects.unscoped().exists()


def test_nested_groups_metric_references_and_lookbacks(tenant, world):
    # today: Alpha spent 100 of 100, Bravo 60 of 200, Charlie 40 of 50
    assert matches(tenant, [{"field": "spend", "operator": "greater_than", "lookback": "today",
                             "value": {"field": "budget", "multiplier": 0.5}}]) == {"Alpha", "Charlie"}
    assert matches(tenant, [{"field": "budget_utilization", "operator": "between", "value": [70, 100],
                             "lookback": "today"}]) == {"Alpha", "Charlie"}
    assert matches(tenant, {"operator": "or", "conditions": [
        {"operator": "and", "conditions": [{"field": "roas", "operator": "less_than", "value": 1},
                                           {"field": "spend", "operator": "greater_than", "value": 500}]},
        {"operator": "and", "conditions": [{"field": "ctr", "operator": "less_than_or_equal", "value": 0.5,
                                            "lookback": "today"},
                                           {"field": "revenue", "operator": "equals", "value": 0}]},
    ]}) == {"Alpha", "Charlie"}  # Alpha by the first branch; Charlie's ctr is 0.5 % with no revenue
    assert matches(tenant, [{"field": "revenue", "operator": "greater_than", "lookback": "last_14d",
                             "value": {"field": "spend", "multiplier": 4}}]) == {"Bravo"}  # 4200 > 4 × 840
    assert matches(tenant, [{"field": "spend", "operator": "greater_than", "value": 0, "lookback": "yesterday"}]) == \
        {"Alpha", "Bravo"}  # Charlie only started today


@pytest.mark.parametrize("condition, expected", [
    ({"field": "roas", "operator": "equals", "value": 0.8}, {"Alpha"}),
    ({"field": "roas", "operator": "not_equals", "value": 0.8}, {"Bravo", "Charlie"}),
    ({"field": "cpc", "operator": "between", "value": [0.5, 0.6]}, {"Alpha", "Bravo"}),  # 0.50 and 0.60
    ({"field": "cpa", "operator": "greater_than_or_equal", "value": 50}, {"Alpha"}),  # 700 / 14
    ({"field": "cpm", "operator": "less_than", "value": 5}, {"Bravo"}),  # 420 / 140,000 × 1000 = 3
    ({"field": "conversions", "operator": "greater_than", "value": 40}, {"Bravo"}),
    ({"field": "impressions", "operator": "less_than", "value": 2000}, {"Charlie"}),
    ({"field": "clicks", "operator": "equals", "value": 1400}, {"Alpha"}),
    ({"field": "cplpv", "operator": "greater_than", "value": 0.6}, {"Alpha", "Charlie"}),  # 700/1050, 40/150
])
def test_every_operator_and_field(tenant, world, condition, expected):
    assert matches(tenant, [condition]) == (expected - {"Charlie"} if condition["field"] == "cplpv" else expected)


def test_money_sums_are_exact_at_a_threshold(tenant, world):
    """Sums are taken in double precision and rounded back to cents: 0.10 + 0.20 is 0.30, not above it."""
    cents = campaign(tenant, world["account"], name="Cents", budget="1.00")
    daily(tenant, cents, [1], spend="0.10", revenue="0.30", clicks=1, impressions=3)
    daily(tenant, cents, [0], spend="0.20", revenue=0, clicks=1, impressions=3)
    scope = {"type": "campaigns", "campaign_ids": [str(cents.pk)], "campaign_status": "active"}
    assert matches(tenant, [{"field": "spend", "operator": "greater_than", "value": 0.3}], scope=scope) == set()
    assert matches(tenant, [{"field": "spend", "operator": "greater_than_or_equal", "value": 0.3}], scope=scope) == \
        {"Cents"}
    assert matches(tenant, [{"field": "roas", "operator": "greater_than_or_equal", "value": 1}], scope=scope) == \
        {"Cents"}  # 0.30 / 0.30
    assert matches(tenant, [{"field": "clicks", "operator": "equals", "value": 2}], scope=scope) == {"Cents"}
    with tenant_scope(tenant):
        (row,) = rule_evaluate(tenant=tenant, rule=RuleFactory(tenant=tenant, scope=scope, conditions={
            "operator": "and", "conditions": [{"field": "ctr", "operator": "greater_than", "value": 0}]}))
    assert (row["spend_last_7d"], row["revenue_last_7d"], round(row["ctr_last_7d"], 4)) == (0.3, 0.3, 33.3333)


def test_scopes(tenant, world):
    roas_low = [{"field": "spend", "operator": "greater_than_or_equal", "value": 0}]  # every campaign in scope
    assert matches(tenant, roas_low) == {"Alpha", "Bravo", "Charlie"}
    assert matches(tenant, roas_low, scope={"type": "campaigns", "campaign_ids": [str(world["Bravo"].pk)],
                                            "campaign_status": "active"}) == {"Bravo"}
    assert matches(tenant, roas_low, scope={"type": "platform", "platform": "google", "campaign_status": "active"}) \
        == set()
    assert matches(tenant, roas_low, scope={"type": "all", "campaign_status": "paused"}) == {"Delta"}
    client = ClientFactory(tenant=tenant)
    other = account(tenant, name="Client account", client=client)
    daily(tenant, campaign(tenant, other, name="Echo"), [0])
    assert matches(tenant, roas_low, scope={"type": "client", "client_id": str(client.pk),
                                            "campaign_status": "any"}) == {"Echo"}


def test_evaluation_is_one_query(tenant, world, django_assert_num_queries):
    rule = RuleFactory(tenant=tenant, conditions={"operator": "or", "conditions": [
        {"field": "roas", "operator": "less_than", "value": 1, "lookback": "last_30d"},
        {"field": "spend", "operator": "greater_than", "value": {"field": "budget", "multiplier": 0.9},
         "lookback": "today"},
        {"field": "ctr", "operator": "between", "value": [0, 1], "lookback": "yesterday"}]})
    with tenant_scope(tenant), django_assert_num_queries(1):
        rows = list(rule_evaluate(tenant=tenant, rule=rule))
    assert {r["name"] for r in rows} == {"Alpha", "Bravo", "Charlie"}  # Charlie: ROAS 0 on 40 spend (30 days)


def test_run_pauses_through_the_gate_notifies_and_cools_down(api_client, tenant, world, platform, user,
                                                            time_machine):
    rule = api_client.post("/api/v1/rules", SPEC_RULE, format="json").json()
    execution = api_client.post(f"/api/v1/rules/{rule['id']}/run").json()
    assert (execution["status"], execution["evaluated"], execution["matched"], execution["fired"]) == ("ok", 3, 1, 1)
    assert execution["outcomes"] == {"executed": 1}
    (firing,) = execution["firings"]
    assert firing["campaign_id"] == str(world["Alpha"].pk)
    assert firing["outcomes"][0]["type"] == "pause_campaign" and firing["outcomes"][0]["outcome"] == "executed"
    assert platform.calls == [("status", world["Alpha"].external_id, "paused")]
    with tenant_scope(tenant):
        action = AutopilotAction.objects.get()
        assert (action.source, action.rule_id, action.status) == ("rule", Rule.objects.get().pk, "executed")
        assert OutboxEvent.objects.get(event_type="campaign.paused").data["actor"] == f"rule:{rule['id']}"
        gate = AuditLogEntry.objects.get(event="gate")
        assert (gate.actor_type, gate.decision, gate.rule_id) == ("rule", "allowed", action.rule_id)
    note = Notification.objects.for_tenant(tenant).get(user=user, category="campaign_alerts")
    assert note.title == "Rule “Pause Low ROAS Campaigns” matched 1 campaign"
    assert "Alpha (meta) — roas 0.8 (last_7d)" in note.body and "pause campaign: executed" in note.body
    Campaign.objects.for_tenant(tenant).filter(pk=world["Alpha"].pk).update(status="active")
    time_machine.move_to(NOW + dt.timedelta(minutes=60), tick=False)  # an hour later: still within the cooldown
    api_client = client_for(user)
    again = api_client.post(f"/api/v1/rules/{rule['id']}/run").json()
    assert (again["matched"], again["in_cooldown"], again["fired"]) == (1, 1, 0)
    preview = api_client.post(f"/api/v1/rules/{rule['id']}/preview").json()
    assert preview["items"][0]["in_cooldown"] is True
    history = api_client.get(f"/api/v1/rules/{rule['id']}/executions").json()
    assert history["total"] == 2 and [len(e["firings"]) for e in history["items"]] == [0, 1]


def test_degraded_signal_holds_and_unhealthy_blocks_rule_actions(api_client, tenant, world, platform):
    from trust.models import SignalHealthSnapshot

    rule = RuleFactory(tenant=tenant, conditions={"operator": "and", "conditions": [
        {"field": "roas", "operator": "less_than", "value": 10}]}, actions=[{"type": "decrease_budget", "percent": 10}])
    rule.conditions = {"operator": "and", "conditions": [{"field": "impressions", "operator": "greater_than",
                                                          "value": 5000}]}  # Alpha and Bravo
    rule.save()
    SignalHealthSnapshot.objects.for_tenant(tenant).update(status="degraded", overall_score=55)
    execution = api_client.post(f"/api/v1/rules/{rule.pk}/run").json()
    assert execution["outcomes"] == {"held": 2}
    pending = api_client.get("/api/v1/autopilot/pending-actions").json()
    assert {i["campaign"]["name"] for i in pending["items"]} == {"Alpha", "Bravo"}
    assert {i["after"]["budget_amount"] for i in pending["items"]} == {"90.00", "180.00"}
    assert all(i["source"] == "rule" and i["rule_id"] == str(rule.pk) for i in pending["items"])
    SignalHealthSnapshot.objects.for_tenant(tenant).update(status="unhealthy", overall_score=20)
    RuleFiring.objects.for_tenant(tenant).all().delete()  # past the cooldown
    AutopilotAction.objects.for_tenant(tenant).update(status="rejected")  # and nothing pending any more
    rule.actions = [{"type": "pause_campaign"}]
    rule.save()
    blocked = api_client.post(f"/api/v1/rules/{rule.pk}/run").json()
    assert blocked["outcomes"] == {"blocked": 2} and platform.calls == []


def test_budget_actions_are_capped_and_skip_what_is_already_done(api_client, tenant, world, platform, autopilot_on):
    rule = RuleFactory(tenant=tenant, conditions={"operator": "and", "conditions": [
        {"field": "roas", "operator": "greater_than", "value": 4}]},
        actions=[{"type": "increase_budget", "percent": 20}, {"type": "activate_campaign"}],
        scope={"type": "all", "campaign_status": "any"})
    api_client.patch("/api/v1/autopilot/settings", {"max_budget_change_percent": 10}, format="json")
    execution = api_client.post(f"/api/v1/rules/{rule.pk}/run").json()
    (firing,) = execution["firings"]
    increase, activate = firing["outcomes"]
    assert increase["outcome"] == "executed" and "Capped at 10 %" in increase["detail"]
    assert activate == {"type": "activate_campaign", "outcome": "skipped", "detail": "Already active."}
    assert platform.calls == [("budget", world["Bravo"].external_id, Decimal("220.00"))]


def test_tasks_webhooks_and_notifications(api_client, tenant, world, user):
    assignee = UserFactory(tenant=tenant, role="manager")
    rule = api_client.post("/api/v1/rules", {
        "name": "Watch losers", "conditions": [{"field": "roas", "operator": "less_than", "value": 1},
                                               {"field": "spend", "operator": "greater_than", "value": 100}],
        "actions": [{"type": "create_task", "title": "Look at this loser", "priority": "High",
                     "assignee_ids": [str(assignee.pk)]},
                    {"type": "send_webhook"}, {"type": "notify", "message": "Losers again."}],
        "frequency": "daily"}, format="json").json()
    execution = api_client.post(f"/api/v1/rules/{rule['id']}/run").json()
    assert execution["outcomes"] == {"created": 1, "sent": 1, "notified": 1}
    with tenant_scope(tenant):
        task = Task.objects.get()
        assert (task.name, task.priority, task.related_object_type, task.related_object_id) == (
            "Look at this loser", "High", "campaign", world["Alpha"].pk)
        assert list(task.assignees.all()) == [assignee]
        event = OutboxEvent.objects.get(event_type="autopilot.action")
        assert event.data["type"] == "send_webhook" and event.data["campaign_name"] == "Alpha"
        assert event.data["metrics"] == {"last_7d": {"roas": 0.8, "spend": 700.0, "revenue": 560.0}}
        assert set(AuditLogEntry.objects.filter(event="gate").values_list("decision", flat=True)) == {"allowed"}
    note = Notification.objects.for_tenant(tenant).get(user=user, category="campaign_alerts")
    assert note.body.startswith("Losers again.\nAlpha (meta)")


@pytest.mark.parametrize("change, field", [
    ({"conditions": [{"field": "vibes", "operator": "less_than", "value": 1}]}, "conditions[0].field"),
    ({"conditions": [{"field": "roas", "operator": "smaller", "value": 1}]}, "conditions[0].operator"),
    ({"conditions": [{"field": "roas", "operator": "less_than", "value": 1, "lookback": "last_year"}]},
     "conditions[0].lookback"),
    ({"conditions": [{"field": "roas", "operator": "between", "value": [3, 1]}]}, "conditions[0].value"),
    ({"conditions": [{"field": "roas", "operator": "less_than", "value": "1; DROP TABLE x"}]}, "conditions[0].value"),
    ({"conditions": [{"field": "spend", "operator": "greater_than", "value": {"field": "mood"}}]},
     "conditions[0].value.field"),
    ({"conditions": {"operator": "xor", "conditions": [{"field": "roas", "operator": "less_than", "value": 1}]}},
     "conditions.operator"),
    ({"conditions": {"operator": "or", "conditions": [
        {"operator": "and", "conditions": [{"field": "roas", "operator": "less_than", "value": 1, "sql": "1=1"}]}]}},
     "conditions[0].conditions[0].sql"),
    ({"conditions": []}, "conditions"),
    ({"actions": [{"type": "launch_rocket"}]}, "actions[0].type"),
    ({"actions": [{"type": "increase_budget", "percent": 50}]}, "actions[0].percent"),
    ({"actions": [{"type": "decrease_budget"}]}, "actions[0].percent"),
    ({"actions": [{"type": "set_budget", "amount": -5}]}, "actions[0].amount"),
    ({"actions": [{"type": "pause_campaign"}, {"type": "activate_campaign"}]}, "actions[1].type"),
    ({"actions": [{"type": "activate_campaign"}]}, "actions[0].type"),
    ({"actions": [{"type": "create_task", "assignee_ids": ["8f1c1f6e-0000-4000-8000-000000000000"]}]},
     "actions[0].assignee_ids"),
    ({"actions": []}, "actions"),
    ({"frequency": "every_second"}, "frequency"),
    ({"lookback": "forever"}, "lookback"),
    ({"cooldown_minutes": -1}, "cooldown_minutes"),
    ({"scope": {"type": "platform", "platform": "myspace"}}, "scope.platform"),
    ({"scope": {"type": "campaigns", "campaign_ids": ["8f1c1f6e-0000-4000-8000-000000000000"]}},
     "scope.campaign_ids"),
    ({"scope": {"type": "client", "client_id": "nope"}}, "scope.client_id"),
    ({"scope": {"type": "galaxy"}}, "scope.type"),
    ({"owner": "someone else"}, "owner"),
    # names given as lists or objects (not hashable: they answered 500)
    ({"conditions": [{"field": "roas", "operator": "less_than", "value": 1, "lookback": ["last_7d"]}]},
     "conditions[0].lookback"),
    ({"conditions": [{"field": ["roas"], "operator": {"less_than": 1}, "value": 1}]}, "conditions[0].operator"),
    ({"conditions": [{"field": "spend", "operator": "greater_than", "value": {"field": ["budget"]}}]},
     "conditions[0].value.field"),
    ({"conditions": {"operator": ["or"], "conditions": [{"field": "roas", "operator": "less_than", "value": 1}]}},
     "conditions.operator"),
    ({"actions": [{"type": ["pause_campaign"]}]}, "actions[0].type"),
    ({"actions": [{"type": "create_task", "priority": ["High"]}]}, "actions[0].priority"),
    ({"scope": {"type": ["all"]}}, "scope.type"),
    ({"scope": {"type": "all", "campaign_status": ["active"]}}, "scope.campaign_status"),
    ({"scope": {"type": "platform", "platform": {"meta": True}}}, "scope.platform"),
    ({"frequency": ["hourly"]}, "frequency"),
])
def test_bad_rules_are_422_naming_the_field(api_client, world, change, field):
    error = assert_error(api_client.post("/api/v1/rules", {**SPEC_RULE, **change}, format="json"), 422,
                         "VALIDATION_ERROR")
    assert field in error["errors"], error
    assert not Rule.objects.unscoped().exists()


def test_crud(api_client, tenant, world, django_assert_max_num_queries):
    created = api_client.post("/api/v1/rules", SPEC_RULE, format="json").json()
    for i in range(4):
        RuleFactory(tenant=tenant, name=f"Other {i}")
    RuleFactory(tenant=TenantFactory())
    with django_assert_max_num_queries(10):
        listing = api_client.get("/api/v1/rules?limit=2").json()
    assert (listing["total"], listing["pages"]) == (5, 3)
    detail = api_client.get(f"/api/v1/rules/{created['id']}").json()
    assert detail["next_run_at"].startswith("2026-03-18T15:00:00")
    patched = api_client.patch(f"/api/v1/rules/{created['id']}", {"enabled": False}, format="json").json()
    assert patched["enabled"] is False and patched["next_run_at"] is None and patched["conditions"] == \
        created["conditions"]
    error = assert_error(api_client.patch(f"/api/v1/rules/{created['id']}", {"actions": [{"type": "increase_budget",
                                                                                         "percent": 99}]},
                                          format="json"), 422)
    assert "actions[0].percent" in error["errors"]
    assert api_client.put(f"/api/v1/rules/{created['id']}", SPEC_RULE, format="json").status_code == 405
    api_client.post(f"/api/v1/rules/{created['id']}/run")
    assert api_client.delete(f"/api/v1/rules/{created['id']}").status_code == 204
    assert_error(api_client.get(f"/api/v1/rules/{created['id']}"), 404)
    with tenant_scope(tenant):
        action = AutopilotAction.objects.get()
        assert action.rule_id is None and action.status == "executed"  # what it did stays
        assert AuditLogEntry.objects.filter(rule_id=created["id"]).exists()


def test_another_tenants_rule_is_404(api_client):
    foreign = RuleFactory(tenant=TenantFactory())
    for method, suffix in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/preview"), ("post", "/run"),
                           ("get", "/executions"), ("post", "/backtest")):
        assert_error(getattr(api_client, method)(f"/api/v1/rules/{foreign.pk}{suffix}", {}, format="json"), 404)
    assert RuleExecution.objects.unscoped().count() == 0


def test_backtest_replays_pauses(api_client, tenant, world):
    rule = RuleFactory(tenant=tenant, conditions={"operator": "and", "conditions": [
        {"field": "roas", "operator": "less_than", "value": 1}]}, lookback="last_3d", frequency="daily")
    body = api_client.post(f"/api/v1/rules/{rule.pk}/backtest", {"start_date": "2026-03-01",
                                                                 "end_date": "2026-03-10"}, format="json").json()
    assert (body["days"], body["evaluations"]) == (10, 10)
    summary = body["summary"]
    assert (summary["firings"], summary["campaigns_paused"], summary["campaigns_matched"]) == (1, 1, 1)
    assert (summary["spend_involved"], summary["revenue_involved"]) == (300.0, 240.0)  # Alpha's last 3 days
    assert (summary["spend_after_pause"], summary["revenue_after_pause"]) == (900.0, 720.0)  # 2 … 10 March
    (day,) = body["timeline"]
    assert day["date"] == "2026-03-01" and day["actions"][0]["campaign_name"] == "Alpha"
    assert not AutopilotAction.objects.unscoped().exists()
    with tenant_scope(tenant):
        assert Campaign.objects.get(pk=world["Alpha"].pk).status == "active"


def test_backtest_compounds_budget_changes(api_client, tenant, world):
    rule = RuleFactory(tenant=tenant, conditions={"operator": "and", "conditions": [
        {"field": "roas", "operator": "greater_than", "value": 4}]},
        actions=[{"type": "increase_budget", "percent": 10}], frequency="daily")
    summary = api_client.post(f"/api/v1/rules/{rule.pk}/backtest", {"start_date": "2026-03-01",
                                                                    "end_date": "2026-03-03"},
                              format="json").json()["summary"]
    assert summary["budget_changes"] == 3 and summary["budget_increase"] == 66.2  # 200 → 220 → 242 → 266.20
    assert summary["net_budget_change"] == 66.2 and summary["campaigns_paused"] == 0


@pytest.mark.parametrize("body, field", [
    ({"start_date": "2026-03-10", "end_date": "2026-03-01"}, "start_date"),
    ({"start_date": "2026-03-10", "end_date": "2026-03-19"}, "end_date"),
    ({"start_date": "2025-01-01", "end_date": "2026-03-10"}, "end_date"),
    ({"start_date": "2026-03-10"}, "end_date"),
    ({"start_date": "yesterday", "end_date": "2026-03-10"}, "start_date"),
])
def test_backtest_bad_ranges(api_client, tenant, world, body, field):
    rule = RuleFactory(tenant=tenant)
    assert field in assert_error(api_client.post(f"/api/v1/rules/{rule.pk}/backtest", body, format="json"),
                                 422)["errors"]


def test_the_dispatcher_runs_due_rules(tenant, world, time_machine, settings):
    from trust import tasks

    hourly = RuleFactory(tenant=tenant, frequency="hourly", actions=[{"type": "notify"}])
    RuleFactory(tenant=tenant, enabled=False)
    starter = TenantFactory(plan="starter")
    RuleFactory(tenant=starter)  # no autopilot on the starter plan
    assert tasks.rules_dispatch() == 1
    assert RuleExecution.objects.for_tenant(tenant).get().rule_id == hourly.pk
    assert tasks.rules_dispatch() == 0
    time_machine.move_to(NOW + dt.timedelta(minutes=61), tick=False)
    assert tasks.rules_dispatch() == 1
    assert settings.CELERY_BEAT_SCHEDULE["trust.rules_dispatch"]["schedule"] == 60.0
    assert not RuleExecution.objects.for_tenant(starter).exists()


def test_rules_need_autopilot_and_write_roles(db, make_key_client):
    pro = TenantFactory(plan="professional")
    analyst = UserFactory(tenant=pro, role="analyst")
    assert client_for(analyst).get("/api/v1/rules").status_code == 200
    assert_error(client_for(analyst).post("/api/v1/rules", SPEC_RULE, format="json"), 403)
    manager = UserFactory(tenant=pro, role="manager")
    assert make_key_client(manager, scopes=["write:trust"]).post("/api/v1/rules", SPEC_RULE,
                                                                 format="json").status_code == 201
    assert_error(make_key_client(manager, scopes=["read:trust"]).post("/api/v1/rules", SPEC_RULE, format="json"), 403)


def test_one_run_of_a_rule_at_a_time(api_client, tenant, world):
    from django.core.cache import cache

    rule = RuleFactory(tenant=tenant)
    cache.add(f"trust:rule-run:{rule.pk}", 1, timeout=60)
    assert_error(api_client.post(f"/api/v1/rules/{rule.pk}/run"), 409, "RULE_RUNNING")
    from trust.tasks import rule_run_task

    assert rule_run_task(str(tenant.pk), str(rule.pk)) is None  # the schedule skips it
    assert not RuleExecution.objects.for_tenant(tenant).exists()
