"""Automation rules: create, update, delete, and run (evaluate, then act on each matching campaign through the
trust gate). A run is one SQL aggregation; the campaigns it fired on within the rule's cooldown are skipped.

Actions per matching campaign: money actions become autopilot actions of source `rule` (executed when the gate
allows, pending when it holds, blocked when it blocks; percent changes capped by the autopilot's
max_budget_change_percent); `create_task` creates a workflow task about the campaign; `send_webhook` emits
`autopilot.action` (type send_webhook) through the outbox to the webhooks subscribed to it; `notify` (and
`notify: true` on a money action) adds the campaign to one notification per run to the tenant's owners, admins and
managers.
"""
from __future__ import annotations

import logging
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import NotificationCategory
from accounts.notifications import notification_send
from campaigns.models import Campaign
from stratum.api.cache import cache  # falls back to process memory while Redis is down
from stratum.api.exceptions import ApiError, Conflict
from stratum.api.outbox import emit
from workflow.services.tasks import task_create

from ..errors import RULE_RUNNING
from ..models import ActionStatus, AuditDecision, AutopilotAction, Rule, RuleExecution, RuleFiring, RunStatus
from ..selectors.autopilot import Proposal, campaign_state
from ..selectors.backtest import simulated_budget
from ..selectors.rules import describe, evaluation_metrics, metrics_by_lookback, rule_evaluate, scope_count
from .audit import actor_for_rule
from .autopilot import action_propose
from .breakers import automation_managers
from .gate import NEUTRAL, gate_check
from .health import signal_health_current
from .rule_validation import actions_clean, conditions_clean, scope_clean
from .settings import autopilot_settings_get

logger = logging.getLogger("stratum.trust.rules")
RULE_FIELDS = ("name", "description", "enabled", "frequency", "lookback", "cooldown_minutes")


def _definition(*, tenant, data: dict[str, Any], rule: Rule | None) -> dict[str, Any]:
    cap = autopilot_settings_get(tenant=tenant).max_budget_change_percent
    out: dict[str, Any] = {}
    if "conditions" in data or rule is None:
        out["conditions"] = conditions_clean(data.get("conditions"))
    scope = scope_clean(tenant=tenant, raw=data["scope"]) if "scope" in data else (rule.scope if rule else
                                                                                    scope_clean(tenant=tenant, raw={}))
    if "scope" in data or rule is None:
        out["scope"] = scope
    if "actions" in data or rule is None or "scope" in data:
        out["actions"] = actions_clean(tenant=tenant, raw=data.get("actions", rule.actions if rule else None), cap=cap,
                                       scope=scope)
    return out


def rule_create(*, tenant, data: dict[str, Any], created_by=None) -> Rule:
    definition = _definition(tenant=tenant, data=data, rule=None)
    fields = {key: data[key] for key in RULE_FIELDS if key in data}
    return Rule.objects.for_tenant(tenant).create(tenant=tenant, created_by=created_by, **definition, **fields)


def rule_update(*, tenant, rule: Rule, data: dict[str, Any]) -> Rule:
    with transaction.atomic():
        rule = Rule.objects.for_tenant(tenant).select_for_update().get(pk=rule.pk)
        for key, value in {**_definition(tenant=tenant, data=data, rule=rule),
                           **{k: data[k] for k in RULE_FIELDS if k in data}}.items():
            setattr(rule, key, value)
        rule.save()
    return rule


def rule_delete(*, tenant, rule: Rule) -> None:
    """Its executions go with it; autopilot actions it took stay (their rule becomes null) and so does the audit
    log."""
    Rule.objects.for_tenant(tenant).filter(pk=rule.pk).delete()


# --- running ---------------------------------------------------------------------------------------------

def _budget_after(*, action: dict, campaign: Campaign, cap: int) -> Decimal:
    return simulated_budget(action=action, budget=campaign.budget_amount, platform=campaign.platform,
                            budget_type=campaign.budget_type, cap_percent=cap)


def _money_action(*, tenant, rule: Rule, action: dict, campaign: Campaign, evidence: dict, cap: int, health: dict,
                  pending: set) -> dict:
    kind = action["type"]
    before = campaign_state(campaign)
    after = dict(before)
    if kind in ("pause_campaign", "activate_campaign"):
        after["status"] = "paused" if kind == "pause_campaign" else "active"
        if after["status"] == campaign.status:
            return {"type": kind, "outcome": "skipped", "detail": f"Already {campaign.status}."}
        impact = campaign.budget_amount  # the daily budget, or the whole lifetime budget
    else:
        new = _budget_after(action=action, campaign=campaign, cap=cap)
        if new == campaign.budget_amount:
            return {"type": kind, "outcome": "skipped", "detail": f"The budget is already {new}."}
        after["budget_amount"] = str(new)
        impact = abs(new - campaign.budget_amount)
    if campaign.pk in pending:
        return {"type": kind, "outcome": "skipped", "detail": "An action on this campaign is already pending."}
    detail = ""
    if kind in ("increase_budget", "decrease_budget") and action["percent"] > cap:
        detail = f"Capped at {cap} % (max_budget_change_percent)."
    proposal = Proposal(campaign=campaign, kind=kind, before=before, after=after,
                        money_impact=impact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
                        reason=f"Rule “{rule.name}”: {describe(rule.conditions, rule.lookback)}.", evidence=evidence)
    record, decision = action_propose(tenant=tenant, proposal=proposal, actor=actor_for_rule(rule), source="rule",
                                      approval_threshold=None, health=health, rule=rule)
    if record.status == ActionStatus.PENDING:
        pending.add(campaign.pk)
    outcome = {ActionStatus.EXECUTED: "executed", ActionStatus.PENDING: "held", AuditDecision.BLOCKED: "blocked"}.get(record.status, record.status)
    return {"type": kind, "outcome": outcome, "action_id": str(record.pk),
            "detail": " ".join(filter(None, [detail,
                                             record.error or (decision.reason if not decision.allowed else "")]))}


def _informational(*, tenant, rule: Rule, action: dict, campaign: Campaign, evidence: dict, health: dict,
                   execution: RuleExecution) -> dict:
    kind = action["type"]
    gate_check(tenant=tenant, actor=actor_for_rule(rule), action=kind, campaign=campaign, direction=NEUTRAL,
               health=health, rule_id=rule.pk)
    if kind == "notify":
        return {"type": kind, "outcome": "notified"}
    if kind == "send_webhook":
        event = emit(tenant, "autopilot.action", {
            "type": "send_webhook", "source": "rule", "rule_id": str(rule.pk), "rule_name": rule.name,
            "execution_id": str(execution.pk), "campaign_id": str(campaign.pk), "campaign_name": campaign.name,
            "platform": campaign.platform, "ad_account_id": str(campaign.ad_account_id), "metrics": evidence,
            "conditions": describe(rule.conditions, rule.lookback)})
        return {"type": kind, "outcome": "sent", "event_id": str(event.event_id)}
    try:
        with transaction.atomic():
            task = task_create(
                tenant=tenant, client=campaign.ad_account.client, task_type="other", priority=action["priority"],
                name=action.get("title") or f"Review {campaign.name}: rule “{rule.name}” matched",
                description=(action.get("description") or "") + f"\n\n{describe(rule.conditions, rule.lookback)}",
                assignees=action.get("assignee_ids", []), related_object_type="campaign",
                related_object_id=campaign.pk)
    except ApiError as exc:
        return {"type": kind, "outcome": "failed", "detail": str(exc.detail)[:300]}
    return {"type": kind, "outcome": "created", "task_id": str(task.pk)}


def _notify(*, tenant, rule: Rule, lines: list[str], execution: RuleExecution, campaign_ids: list[str]) -> None:
    messages = [a.get("message") for a in rule.actions if a["type"] == "notify" and a.get("message")]
    body = "\n".join(messages + lines[:30] + ([f"… and {len(lines) - 30} more"] if len(lines) > 30 else []))
    notification_send(tenant=tenant, users=automation_managers(tenant=tenant), category=NotificationCategory.CAMPAIGN_ALERTS,
                      title=f"Rule “{rule.name}” matched {len(lines)} campaign{'s' if len(lines) != 1 else ''}",
                      body=body, data={"rule_id": str(rule.pk), "execution_id": str(execution.pk),
                                       "campaign_ids": campaign_ids[:100]})


def _act(*, tenant, rule: Rule, execution: RuleExecution, matches: list[dict], now) -> Counter:
    metrics = evaluation_metrics(rule)
    cap = autopilot_settings_get(tenant=tenant).max_budget_change_percent
    health = signal_health_current(tenant=tenant)
    campaigns = {c.pk: c for c in Campaign.objects.for_tenant(tenant).filter(pk__in=[m["id"] for m in matches])
                 .select_related("ad_account", "ad_account__client")}
    pending = set(AutopilotAction.objects.for_tenant(tenant).filter(status=ActionStatus.PENDING, campaign_id__in=list(campaigns))
                  .values_list("campaign_id", flat=True))
    outcomes: Counter = Counter()
    lines, notified = [], []
    for row in matches:
        campaign = campaigns[row["id"]]
        evidence = metrics_by_lookback(row, metrics)
        results = []
        for action in rule.actions:
            if action["type"] in ("notify", "create_task", "send_webhook"):
                result = _informational(tenant=tenant, rule=rule, action=action, campaign=campaign, evidence=evidence,
                                        health=health, execution=execution)
            else:
                result = _money_action(tenant=tenant, rule=rule, action=action, campaign=campaign, evidence=evidence,
                                       cap=cap, health=health, pending=pending)
            results.append(result)
            outcomes[result["outcome"]] += 1
        if any(a["type"] == "notify" or a.get("notify") for a in rule.actions):
            done = ", ".join(f"{r['type'].replace('_', ' ')}: {r['outcome']}" for r in results if r["type"] != "notify")
            figures = "; ".join(f"{field} {'n/a' if value is None else format(value, 'g')} ({lookback})"
                                for lookback, values in evidence.items() for field, value in values.items())
            lines.append(f"{campaign.name} ({campaign.platform}) — {figures}" + (f" — {done}" if done else ""))
            notified.append(str(campaign.pk))
        RuleFiring.objects.for_tenant(tenant).create(tenant=tenant, rule=rule, execution=execution, campaign=campaign,
                                                     fired_at=now, metrics=evidence, outcomes=results)
    if lines:
        _notify(tenant=tenant, rule=rule, lines=lines, execution=execution, campaign_ids=notified)
    return outcomes


RUN_LOCK_SECONDS = 600


def rule_run(*, tenant, rule: Rule, trigger: str = "manual", now=None) -> RuleExecution:
    """Evaluates the rule now and acts on each match outside its cooldown; one run of a rule at a time (409
    RULE_RUNNING). Never raises for a failed run: the execution records the error."""
    lock = f"trust:rule-run:{rule.pk}"
    if not cache.add(lock, 1, timeout=RUN_LOCK_SECONDS):
        raise Conflict("This rule is running right now.", code=RULE_RUNNING)
    try:
        return _rule_pass(tenant=tenant, rule=rule, trigger=trigger, now=now or timezone.now())
    finally:
        cache.delete(lock)


def _rule_pass(*, tenant, rule: Rule, trigger: str, now) -> RuleExecution:
    execution = RuleExecution.objects.for_tenant(tenant).create(tenant=tenant, rule=rule, trigger=trigger,
                                                                started_at=now)
    Rule.objects.for_tenant(tenant).filter(pk=rule.pk).update(last_run_at=now)
    rule.last_run_at = now
    try:
        matches = list(rule_evaluate(tenant=tenant, rule=rule, now=now))
        execution.evaluated = scope_count(tenant=tenant, rule=rule)
        fresh = [m for m in matches if not m["in_cooldown"]]
        outcomes = _act(tenant=tenant, rule=rule, execution=execution, matches=fresh, now=now) if fresh else Counter()
        execution.status, execution.outcomes = RunStatus.OK, dict(outcomes)
        execution.matched, execution.in_cooldown, execution.fired = len(matches), len(matches) - len(fresh), len(fresh)
    except Exception as exc:  # noqa: BLE001 - recorded on the execution; a scheduled run must not crash the worker
        logger.exception("rule %s failed", rule.pk)
        execution.status, execution.error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    execution.finished_at = timezone.now()
    execution.save()
    return execution
