"""Autopilot actions: proposing (through the gate), executing through the platform connector, approving,
rejecting, rolling back, expiring. Rules' money actions take the same path (`action_propose`).

Every execution goes through `campaigns.services.campaign_update` (the platform first), emits `autopilot.action`
and writes the audit log with the values before and after, which is what a rollback restores.
"""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from accounts.models import NotificationCategory
from accounts.notifications import notification_send
from campaigns.metrics import money
from campaigns.models import Campaign
from campaigns.services import campaign_update
from stratum.api import metrics
from stratum.api.cache import cache  # falls back to process memory while Redis is down
from stratum.api.exceptions import ApiError, Conflict
from stratum.api.outbox import emit

from ..errors import (
    ACTION_NOT_EXECUTED,
    ACTION_NOT_PENDING,
    ACTION_STALE,
    ALREADY_ROLLED_BACK,
    AUTOPILOT_DISABLED,
    AUTOPILOT_RUNNING,
    CAMPAIGN_CHANGED,
    TRUST_GATE_BLOCKED,
)
from ..models import ActionStatus, AuditDecision, AutopilotAction
from ..selectors.autopilot import Proposal, autopilot_proposals, campaign_state
from .audit import AUTOPILOT, SYSTEM, Actor, audit_record
from .breakers import automation_managers, circuit_breakers_check
from .gate import GateDecision, direction_of, gate_check
from .health import signal_health_refresh
from .settings import autopilot_settings_get

logger = logging.getLogger("stratum.trust.autopilot")


def _target(campaign: Campaign) -> str:
    return f"{campaign.name} ({campaign.platform})"


def _source_actor(action: AutopilotAction, actor: Actor) -> str:
    """The `actor` recorded on the campaign change: the automation that proposed it, or the human who rolls back."""
    if action.source == "rollback":
        return actor.label
    if action.source == "rule" and action.rule_id:
        return f"rule:{action.rule_id}"
    return "autopilot"


def action_propose(*, tenant, proposal: Proposal, actor: Actor, source: str, approval_threshold: Decimal | None,
                   health: dict, rule=None) -> tuple[AutopilotAction, GateDecision]:
    """Records the proposal, asks the gate, and executes it at once when allowed."""
    campaign = proposal.campaign
    ttl = dt.timedelta(hours=django_settings.AUTOPILOT_PENDING_TTL_HOURS)
    action = AutopilotAction.objects.for_tenant(tenant).create(
        tenant=tenant, source=source, rule=rule, kind=proposal.kind, campaign=campaign,
        ad_account_id=campaign.ad_account_id, before=proposal.before, after=proposal.after,
        money_impact=proposal.money_impact, currency=campaign.ad_account.currency, reason=proposal.reason,
        evidence=proposal.evidence, group_id=proposal.group_id, expires_at=timezone.now() + ttl)
    direction = direction_of(proposal.kind, before_budget=Decimal(proposal.before["budget_amount"]),
                             after_budget=Decimal(proposal.after["budget_amount"]))
    decision = gate_check(tenant=tenant, actor=actor, action=proposal.kind, campaign=campaign, direction=direction,
                          money_impact=proposal.money_impact, approval_threshold=approval_threshold, health=health,
                          action_id=action.pk, rule_id=getattr(rule, "pk", None),
                          details={"before": proposal.before, "after": proposal.after})
    action.signal = decision.signal
    if decision.decision == AuditDecision.ALLOWED:
        action.save(update_fields=["signal"])
        action_execute(tenant=tenant, action=action, actor=actor)
    else:
        action.status = ActionStatus.PENDING if decision.decision == AuditDecision.HELD else AuditDecision.BLOCKED
        action.hold_reason = decision.reason
        action.save(update_fields=["signal", "status", "hold_reason"])
    return action, decision


def _apply(*, tenant, action: AutopilotAction, actor_label: str, reason: str) -> Campaign:
    after = action.after
    kwargs: dict[str, Any] = {}
    if action.kind in ("pause_campaign", "activate_campaign"):
        kwargs["status"] = after["status"]
    else:
        kwargs["budget_amount"] = Decimal(after["budget_amount"])
    return campaign_update(tenant=tenant, campaign=action.campaign, actor=actor_label, reason=reason[:500], **kwargs)


def action_execute(*, tenant, action: AutopilotAction, actor: Actor,
                   approved_by: Actor | None = None) -> AutopilotAction:
    """Carries the action out on the platform. A platform refusal marks it failed (and may trip the account's
    circuit breaker); it is never raised."""
    campaign = Campaign.objects.for_tenant(tenant).select_related("ad_account").get(pk=action.campaign_id)
    action.campaign = campaign
    before = campaign_state(campaign)
    why = action.reason if not approved_by else f"{action.reason} (approved by {approved_by.name})"
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = _apply(tenant=tenant, action=action, actor_label=_source_actor(action, actor), reason=why)
            action.before, action.after = before, campaign_state(updated)
            action.status, action.executed_at, action.error = ActionStatus.EXECUTED, now, ""
            action.save(update_fields=["before", "after", "status", "executed_at", "error"])
            if action.rollback_of_id:
                AutopilotAction.objects.for_tenant(tenant).filter(pk=action.rollback_of_id).update(status=ActionStatus.ROLLED_BACK)
            emit(tenant, "autopilot.action", {
                "action_id": str(action.pk), "type": action.kind, "source": action.source,
                "rule_id": str(action.rule_id) if action.rule_id else None,
                "rollback_of": str(action.rollback_of_id) if action.rollback_of_id else None,
                "campaign_id": str(campaign.pk), "campaign_name": campaign.name, "platform": campaign.platform,
                "ad_account_id": str(campaign.ad_account_id), "before": before, "after": action.after,
                "money_impact": money(action.money_impact), "currency": action.currency, "reason": action.reason,
                "approved_by": approved_by.name if approved_by else None, "actor": _source_actor(action, actor),
            })
            audit_record(tenant=tenant, event="execution", decision="executed", actor=approved_by or actor,
                         action=action.kind, reason=why, signal=action.signal,
                         details={"before": before, "after": action.after, "money_impact": float(action.money_impact),
                                  "source": action.source},
                         action_id=action.pk, rule_id=action.rule_id, ad_account_id=campaign.ad_account_id,
                         campaign_id=campaign.pk, target=_target(campaign))
    except ApiError as exc:
        action.status, action.executed_at, action.error = ActionStatus.FAILED, now, f"{exc.code}: {exc.detail}"[:2000]
        action.save(update_fields=["status", "executed_at", "error"])
        audit_record(tenant=tenant, event="execution", decision="failed", actor=approved_by or actor,
                     action=action.kind, reason=f"The platform refused the change: {exc.detail}",
                     signal=action.signal, details={"before": before, "after": action.after, "error_code": exc.code},
                     action_id=action.pk, rule_id=action.rule_id, ad_account_id=campaign.ad_account_id,
                     campaign_id=campaign.pk, target=_target(campaign))
        circuit_breakers_check(tenant=tenant)
    return action


def _locked_pending(*, tenant, action: AutopilotAction) -> AutopilotAction:
    action = AutopilotAction.objects.for_tenant(tenant).select_for_update().get(pk=action.pk)
    if action.status != ActionStatus.PENDING:
        raise Conflict(f"This action is {action.status}, not pending.", code=ACTION_NOT_PENDING)
    return action


def _expire(*, tenant, action: AutopilotAction, reason: str, actor: Actor = SYSTEM) -> None:
    action.status, action.decided_at, action.decision_note = ActionStatus.EXPIRED, timezone.now(), reason
    action.save(update_fields=["status", "decided_at", "decision_note"])
    audit_record(tenant=tenant, event="expiry", decision="expired", actor=actor, action=action.kind, reason=reason,
                 signal=action.signal, action_id=action.pk, rule_id=action.rule_id, ad_account_id=action.ad_account_id,
                 campaign_id=action.campaign_id, target=_target(action.campaign))


def action_approve(*, tenant, action: AutopilotAction, actor: Actor) -> AutopilotAction:
    """Executes a pending action for the approving human, holding the action's row lock until it is done (two
    approvals cannot both execute). The gate is asked again: an unhealthy signal refuses the approval (409
    TRUST_GATE_BLOCKED, the action stays pending); a campaign changed since the proposal makes the action stale
    (409 ACTION_STALE, the action expires). Refusals are recorded before they are raised."""
    refusal = None
    with transaction.atomic():
        action = _locked_pending(tenant=tenant, action=action)
        campaign = Campaign.objects.for_tenant(tenant).select_related("ad_account").get(pk=action.campaign_id)
        current = campaign_state(campaign)
        if any(current[key] != action.before.get(key) for key in ("status", "budget_amount")):
            _expire(tenant=tenant, action=action, actor=actor,
                    reason="The campaign changed since the proposal (status or budget); the action no longer applies.")
            refusal = Conflict("The campaign changed since this action was proposed; it expired instead.",
                               code=ACTION_STALE)
        else:
            direction = direction_of(action.kind, before_budget=Decimal(action.before["budget_amount"]),
                                     after_budget=Decimal(action.after["budget_amount"]))
            decision = gate_check(tenant=tenant, actor=actor, action=action.kind, campaign=campaign,
                                  direction=direction, action_id=action.pk, rule_id=action.rule_id,
                                  details={"approval": True})
            if not decision.allowed:
                refusal = Conflict(f"The trust gate blocks this action now: {decision.reason}",
                                   code=TRUST_GATE_BLOCKED)
            else:
                action.decided_at, action.decided_by, action.signal = timezone.now(), actor.user, decision.signal
                action.save(update_fields=["decided_at", "decided_by", "signal"])
                audit_record(tenant=tenant, event="approval", decision="approved", actor=actor, action=action.kind,
                             reason=f"Approved by {actor.name}.", signal=decision.signal, action_id=action.pk,
                             rule_id=action.rule_id, ad_account_id=campaign.ad_account_id, campaign_id=campaign.pk,
                             target=_target(campaign))
                action = action_execute(tenant=tenant, action=action, actor=AUTOPILOT, approved_by=actor)
    if refusal is not None:
        raise refusal
    return action


def action_reject(*, tenant, action: AutopilotAction, actor: Actor, reason: str) -> AutopilotAction:
    with transaction.atomic():
        action = _locked_pending(tenant=tenant, action=action)
        action.status, action.decided_at, action.decided_by = ActionStatus.REJECTED, timezone.now(), actor.user
        action.decision_note = reason
        action.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
        audit_record(tenant=tenant, event="approval", decision="rejected", actor=actor, action=action.kind,
                     reason=reason or f"Rejected by {actor.name}.", signal=action.signal, action_id=action.pk,
                     rule_id=action.rule_id, ad_account_id=action.ad_account_id, campaign_id=action.campaign_id,
                     target=_target(action.campaign))
    return action


INVERSE = {"pause_campaign": "activate_campaign", "activate_campaign": "pause_campaign"}


def action_rollback(*, tenant, action: AutopilotAction, actor: Actor) -> AutopilotAction:
    """Undoes an executed action by restoring the values before it, through the gate (audited), holding the
    original's row lock until done (two rollbacks cannot both run). Refused with 409 when it was not executed, was
    already rolled back, the campaign changed since, or the gate blocks it (the blocked rollback is recorded)."""
    with transaction.atomic():
        action = AutopilotAction.objects.for_tenant(tenant).select_for_update().get(pk=action.pk)
        if action.status == ActionStatus.ROLLED_BACK:
            raise Conflict("This action was already rolled back.", code=ALREADY_ROLLED_BACK)
        if action.status != ActionStatus.EXECUTED:
            raise Conflict(f"Only executed actions can be rolled back; this one is {action.status}.",
                           code=ACTION_NOT_EXECUTED)
        campaign = Campaign.objects.for_tenant(tenant).select_related("ad_account").get(pk=action.campaign_id)
        current = campaign_state(campaign)
        if any(current[key] != action.after.get(key) for key in ("status", "budget_amount")):
            raise Conflict("The campaign changed after this action; rolling back would overwrite a later change.",
                           code=CAMPAIGN_CHANGED)
        before, restore = Decimal(action.after["budget_amount"]), Decimal(action.before["budget_amount"])
        kind = INVERSE.get(action.kind) or ("increase_budget" if restore > before else "decrease_budget")
        undo = AutopilotAction.objects.for_tenant(tenant).create(
            tenant=tenant, source="rollback", rule_id=action.rule_id, kind=kind, campaign=campaign,
            ad_account_id=campaign.ad_account_id, before=current,
            after={**current, "status": action.before["status"], "budget_amount": action.before["budget_amount"]},
            money_impact=action.money_impact, currency=action.currency, rollback_of=action,
            reason=f"Rollback of the {action.kind.replace('_', ' ')} of {action.executed_at:%Y-%m-%d %H:%M} UTC, "
                   f"requested by {actor.name}.")
        decision = gate_check(tenant=tenant, actor=actor, action=kind, campaign=campaign,
                              direction=direction_of(kind, before_budget=before, after_budget=restore),
                              action_id=undo.pk, details={"rollback_of": str(action.pk)})
        undo.signal, undo.decided_by, undo.decided_at = decision.signal, actor.user, timezone.now()
        if decision.allowed:
            undo.save(update_fields=["signal", "decided_by", "decided_at"])
            undo = action_execute(tenant=tenant, action=undo, actor=actor, approved_by=actor)
        else:
            undo.status, undo.hold_reason = AuditDecision.BLOCKED, decision.reason
            undo.save(update_fields=["signal", "decided_by", "decided_at", "status", "hold_reason"])
    if not decision.allowed:
        raise Conflict(f"The trust gate blocks the rollback now: {decision.reason}", code=TRUST_GATE_BLOCKED)
    return undo


def actions_expire(*, tenant, now: dt.datetime | None = None) -> int:
    """Pending actions past their expiry (AUTOPILOT_PENDING_TTL_HOURS) expire: the data they were proposed on
    is stale."""
    now = now or timezone.now()
    due = list(AutopilotAction.objects.for_tenant(tenant).filter(status=ActionStatus.PENDING, expires_at__lt=now)
               .select_related("campaign"))
    for action in due:
        _expire(tenant=tenant, action=action, reason="Not decided in time; the figures it was proposed on are stale.")
    return len(due)


RUN_LOCK_SECONDS = 600


def autopilot_run(*, tenant, trigger: str = "schedule", now: dt.datetime | None = None) -> dict[str, Any]:
    """One engine pass: fresh signal health, circuit breakers, expiry, then each proposal through the gate. One
    pass per tenant at a time (409 AUTOPILOT_RUNNING while another is under way)."""
    settings = autopilot_settings_get(tenant=tenant)
    if not settings.enabled:
        raise Conflict("Autopilot is disabled; enable it in the settings first.", code=AUTOPILOT_DISABLED)
    lock = f"trust:autopilot-run:{tenant.pk}"
    if not cache.add(lock, 1, timeout=RUN_LOCK_SECONDS):
        raise Conflict("The autopilot is already running for this tenant.", code=AUTOPILOT_RUNNING)
    try:
        return _autopilot_pass(tenant=tenant, settings=settings, trigger=trigger, now=now or timezone.now())
    finally:
        cache.delete(lock)


def _autopilot_pass(*, tenant, settings, trigger: str, now: dt.datetime) -> dict[str, Any]:
    health = signal_health_refresh(tenant=tenant, trigger="autopilot", now=now)
    circuit_breakers_check(tenant=tenant, now=now)
    expired = actions_expire(tenant=tenant, now=now)
    actions = []
    for proposal in autopilot_proposals(tenant=tenant, settings=settings, now=now):
        action, _ = action_propose(tenant=tenant, proposal=proposal, actor=AUTOPILOT, source="autopilot",
                                   approval_threshold=settings.require_approval_above, health=health)
        actions.append(action)
        metrics.AUTOPILOT_ACTIONS.labels(action=str(action.kind), status=str(action.status)).inc()
    settings.last_run_at = now
    settings.save(update_fields=["last_run_at"])
    held = [a for a in actions if a.status == ActionStatus.PENDING]
    if held:
        notification_send(tenant=tenant, users=automation_managers(tenant=tenant), category=NotificationCategory.BUDGET_ALERTS,
                          title=f"Autopilot: {len(held)} action{'s' if len(held) != 1 else ''} awaiting approval",
                          body="\n".join(f"{a.kind.replace('_', ' ')}: {a.campaign.name} — {a.hold_reason}"
                                         for a in held[:20]),
                          data={"action_ids": [str(a.pk) for a in held[:100]]})
    counts = {status: sum(1 for a in actions if a.status == status) for status in (ActionStatus.EXECUTED, ActionStatus.PENDING, AuditDecision.BLOCKED, ActionStatus.FAILED)}
    return {"run_at": now, "trigger": trigger, "proposed": len(actions), **counts, "expired": expired,
            "signal_health": {"overall_score": health["overall_score"], "status": health["status"]},
            "actions": actions}
