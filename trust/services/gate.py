"""Asking the trust gate (its rule: selectors/gate.py) and writing the append-only audit log."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stratum.api.principals import is_api_key_request

from ..models import ALLOWED, BREAKER_OPEN, AuditLogEntry, CircuitBreaker
from ..selectors.gate import DECREASE, INCREASE, INFORMATIONAL_ACTIONS, NEUTRAL, gate_decide
from .health import account_signal, signal_health_current, signal_summary


@dataclass(frozen=True)
class Actor:
    """Who or what acts: the autopilot, a rule, a user or an API key (for the user who created it)."""

    type: str
    id: str = ""
    name: str = ""
    user: Any = field(default=None, compare=False)

    @property
    def is_human(self) -> bool:
        return self.type in ("user", "api_key")

    @property
    def label(self) -> str:
        """The `actor` campaigns' services and events expect: autopilot, rule:<id>, user:<id>, api_key:<id>."""
        return self.type if not self.id else f"{self.type}:{self.id}"


AUTOPILOT = Actor("autopilot", name="Autopilot")
SYSTEM = Actor("system", name="Stratum")


def actor_for_request(request) -> Actor:
    user = request.user
    if is_api_key_request(request):
        return Actor("api_key", str(request.auth.pk), f"API key {request.auth.prefix} ({user.email})", user=user)
    return Actor("user", str(user.pk), user.email, user=user)


def actor_for_rule(rule) -> Actor:
    return Actor("rule", str(rule.pk), f"Rule “{rule.name}”")


@dataclass
class GateDecision:
    decision: str
    reason: str
    signal: dict
    entry: AuditLogEntry

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED


def audit_record(*, tenant, event: str, decision: str, actor: Actor, action: str, reason: str = "",
                 signal: dict | None = None, details: dict | None = None, action_id=None, rule_id=None,
                 ad_account_id=None, campaign_id=None, target: str = "") -> AuditLogEntry:
    return AuditLogEntry.objects.for_tenant(tenant).create(
        tenant=tenant, event=event, decision=decision, actor_type=actor.type, actor_id=actor.id,
        actor_name=actor.name[:255], action=action, action_id=action_id, rule_id=rule_id,
        ad_account_id=ad_account_id, campaign_id=campaign_id, target=target[:255], reason=reason,
        signal=signal or {}, details=details or {})


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
    from .settings import autopilot_settings_get

    health = health if health is not None else signal_health_current(tenant=tenant)
    account = account_signal(health, campaign.ad_account_id)
    signal = signal_summary(account, computed_at=health.get("computed_at"), run_id=health.get("run_id"))
    breaker = (CircuitBreaker.objects.for_tenant(tenant)
               .filter(ad_account_id=campaign.ad_account_id, state=BREAKER_OPEN).first())
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
