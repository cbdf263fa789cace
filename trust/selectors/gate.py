"""The trust gate's rule (a pure function), the gate status per account, and audit-log queries.

For a money action (pause, activate, budget changes) on an ad account whose signal is

- healthy   → allowed; an autopilot proposal whose money impact is above `require_approval_above` is held;
- degraded  → held for human approval. With `pause_on_degraded_signal` (the default) automation stops adding
              money on a degraded signal: actions that raise spend (activate, budget increases) are blocked
              instead of held, while actions that lower spend (pause, budget decreases) are still held for
              approval. A human approving or rolling back is the approval: allowed;
- unhealthy → blocked, for automation and for human approvals alike (so is an account without signal data).

An open circuit breaker on the account blocks automation (not a human's approval or rollback). Informational
actions (notify, create_task, send_webhook) change no money: always allowed, and recorded like the others.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, QuerySet
from django.utils import timezone

from ..models import GATE_DECISIONS, AuditDecision, AuditLogEntry, BreakerState, CircuitBreaker, SignalStatus

INCREASE, DECREASE, NEUTRAL = "increase", "decrease", "neutral"
INFORMATIONAL_ACTIONS = ("notify", "create_task", "send_webhook")
GATE_OPEN, GATE_HOLD, GATE_CLOSED = "open", "hold", "closed"


def gate_decide(*, status: str, breaker_reason: str | None, human: bool, actor_name: str, direction: str,
                pause_on_degraded: bool, money_impact: Decimal | None = None,
                approval_threshold: Decimal | None = None, score=None) -> tuple[str, str]:
    """(decision, reason) for one action. `breaker_reason` is the reason of the account's open breaker, if any."""
    if direction == NEUTRAL:
        return AuditDecision.ALLOWED, "Informational action: it changes no budget or status."
    if status not in (SignalStatus.HEALTHY, SignalStatus.DEGRADED):
        if status == "no_data":
            return AuditDecision.BLOCKED, "No signal health for this ad account: automation cannot be trusted here."
        return AuditDecision.BLOCKED, f"Signal health is unhealthy ({score}/100): automated changes are blocked."
    if breaker_reason is not None and not human:
        return AuditDecision.BLOCKED, (f"The circuit breaker on this ad account is open ({breaker_reason.replace('_', ' ')}): "
                         "automation is stopped until someone resumes it.")
    if status == SignalStatus.DEGRADED:
        if human:
            return AuditDecision.ALLOWED, f"Signal health is degraded ({score}/100); {actor_name} approved the change."
        if pause_on_degraded and direction == INCREASE:
            return AuditDecision.BLOCKED, (f"Signal health is degraded ({score}/100) and pause_on_degraded_signal is on: "
                             "automation does not raise spend on it.")
        return AuditDecision.HELD, f"Signal health is degraded ({score}/100): held for human approval."
    if not human and approval_threshold is not None and money_impact is not None and money_impact > approval_threshold:
        return AuditDecision.HELD, (f"Money impact {money_impact:.2f} is above require_approval_above "
                      f"{approval_threshold:.2f}: held for human approval.")
    return AuditDecision.ALLOWED, f"Signal health is healthy ({score}/100)."


def _gate_state(decisions: dict[str, str]) -> str:
    values = set(decisions.values())
    if values == {AuditDecision.BLOCKED}:
        return GATE_CLOSED
    return GATE_OPEN if values == {AuditDecision.ALLOWED} else GATE_HOLD


def gate_status(*, tenant, health: dict, settings) -> dict:
    """Per active account: its signal, breaker and what the gate answers automation now for spend increases and
    decreases; plus the gate's decisions of the last 24 hours (three queries)."""
    since = timezone.now() - dt.timedelta(hours=24)
    counts = {d: 0 for d in GATE_DECISIONS}
    for row in (AuditLogEntry.objects.for_tenant(tenant).filter(event="gate", created_at__gte=since)
                .values("decision").annotate(n=Count("id"))):
        counts[row["decision"]] = row["n"]
    breakers = {str(b.ad_account_id): b for b in CircuitBreaker.objects.for_tenant(tenant).filter(state=BreakerState.OPEN)}
    accounts = []
    for account in health["accounts"]:
        breaker = breakers.get(account["ad_account_id"])
        decisions, reasons = {}, {}
        for direction in (INCREASE, DECREASE):
            decisions[direction], reasons[direction] = gate_decide(
                status=account["status"], breaker_reason=breaker.reason if breaker else None, human=False,
                actor_name="Autopilot", direction=direction, pause_on_degraded=settings.pause_on_degraded_signal,
                score=account["overall_score"])
        accounts.append({
            "ad_account_id": account["ad_account_id"], "name": account["name"], "platform": account["platform"],
            "signal": {"overall_score": account["overall_score"], "status": account["status"]},
            "state": _gate_state(decisions), "automation": decisions, "reasons": reasons,
            "circuit_breaker": None if breaker is None else {
                "id": str(breaker.pk), "reason": breaker.reason, "tripped_at": breaker.tripped_at,
                "details": breaker.details},
        })
    return {
        "overall": {"overall_score": health["overall_score"], "status": health["status"],
                    "computed_at": health["computed_at"]},
        "accounts": accounts,
        "last_24h": {**counts, "total": sum(counts.values())},
        "settings": {"pause_on_degraded_signal": settings.pause_on_degraded_signal,
                     "require_approval_above": float(settings.require_approval_above)},
        "thresholds": health["thresholds"],
    }


def audit_log_list(*, tenant, filters: dict) -> QuerySet:
    queryset = AuditLogEntry.objects.for_tenant(tenant).order_by("-created_at", "-id")
    for key in ("event", "decision", "actor_type", "action", "ad_account_id", "campaign_id", "action_id", "rule_id"):
        if filters.get(key):
            queryset = queryset.filter(**{key: filters[key]})
    if filters.get("date_range"):
        start, end = filters["date_range"]
        queryset = queryset.filter(created_at__gte=start, created_at__lt=end)
    return queryset
