"""Asking the trust gate (its rule: selectors/gate.py); every answer is written to the audit log (audit.py)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..models import AuditDecision, AuditLogEntry, BreakerState, CircuitBreaker
from ..selectors.gate import DECREASE, INCREASE, INFORMATIONAL_ACTIONS, NEUTRAL, gate_decide
from .audit import Actor, audit_record
from .health import account_signal, signal_health_current, signal_summary
from .settings import autopilot_settings_get


@dataclass
class GateDecision:
    decision: str
    reason: str
    signal: dict
    entry: AuditLogEntry

    @property
    def allowed(self) -> bool:
        return self.decision == AuditDecision.ALLOWED


def direction_of(kind: str, *, before_budget: Decimal | None = None, after_budget: Decimal | None = None) -> str:
    if kind in INFORMATIONAL_ACTIONS:
        return NEUTRAL
    if kind in ("activate_campaign", "increase_budget"):
        return INCREASE
    if kind in ("pause_campaign", "decrease_budget"):
        return DECREASE
    return INCREASE if (after_budget or 0) > (before_budget or 0) else DECREASE


def gate_check(*, tenant, actor: Actor, action: str, campaign, direction: str, money_impact: Decimal | None = None,
               approval_threshold: Decimal | None = None, health: dict | None = None, action_id=None, rule_id=None,
               details: dict | None = None) -> GateDecision:
    """Asks the gate about one action on one campaign and records the answer (one audit entry)."""
    health = health if health is not None else signal_health_current(tenant=tenant)
    account = account_signal(health, campaign.ad_account_id)
    signal = signal_summary(account, computed_at=health.get("computed_at"), run_id=health.get("run_id"))
    breaker = (CircuitBreaker.objects.for_tenant(tenant)
               .filter(ad_account_id=campaign.ad_account_id, state=BreakerState.OPEN).first())
    settings = autopilot_settings_get(tenant=tenant)
    decision, reason = gate_decide(status=account["status"], breaker_reason=breaker.reason if breaker else None,
                                   human=actor.is_human, actor_name=actor.name, direction=direction,
                                   pause_on_degraded=settings.pause_on_degraded_signal, money_impact=money_impact,
                                   approval_threshold=approval_threshold, score=account.get("overall_score"))
    entry = audit_record(
        tenant=tenant, event="gate", decision=decision, actor=actor, action=action, reason=reason, signal=signal,
        details={"direction": direction, **({"money_impact": float(money_impact)} if money_impact is not None else {}),
                 **(details or {})},
        action_id=action_id, rule_id=rule_id, ad_account_id=campaign.ad_account_id, campaign_id=campaign.pk,
        target=f"{campaign.name} ({campaign.platform})")
    return GateDecision(decision, reason, signal, entry)
