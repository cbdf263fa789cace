"""Who acts (the autopilot, a rule, a user, an API key) and the append-only audit log every decision is written to."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stratum.api.principals import is_api_key_request

from ..models import AuditLogEntry


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


def audit_record(*, tenant, event: str, decision: str, actor: Actor, action: str, reason: str = "",
                 signal: dict | None = None, details: dict | None = None, action_id=None, rule_id=None,
                 ad_account_id=None, campaign_id=None, target: str = "") -> AuditLogEntry:
    return AuditLogEntry.objects.for_tenant(tenant).create(
        tenant=tenant, event=event, decision=decision, actor_type=actor.type, actor_id=actor.id,
        actor_name=actor.name[:255], action=action, action_id=action_id, rule_id=rule_id,
        ad_account_id=ad_account_id, campaign_id=campaign_id, target=target[:255], reason=reason,
        signal=signal or {}, details=details or {})


def privacy_request_audit(*, tenant, request, decision: str) -> AuditLogEntry:
    """A CDP privacy request filed, completed or failed: who asked (the staff member, or the system for the
    outcome), its type, status and counts — ids and numbers only, nothing about the person it concerns."""
    user = request.requested_by
    if decision != "requested" or user is None:
        actor = SYSTEM
    elif request.requested_via == "api_key":
        actor = Actor("api_key", str(user.pk), f"API key ({user.email})", user=user)
    else:
        actor = Actor("user", str(user.pk), user.email, user=user)
    return audit_record(tenant=tenant, event="privacy", decision=decision, actor=actor,
                        action=f"privacy_{request.type}", target=f"privacy request {request.pk}",
                        details={"request_id": str(request.pk), "type": request.type, "status": request.status,
                                 "counts": request.counts, "identifier_types": request.identifier_types})
