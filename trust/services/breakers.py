"""Circuit breakers: a spend spike or a run of connector errors on an ad account stops automation there (the
gate blocks it) until a human resumes it. Trips are audited and tell the account's admins and managers."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.models import NotificationCategory, User
from accounts.notifications import notification_send
from campaigns.models import AdAccount
from stratum.api.exceptions import Conflict
from stratum.api.permissions import WRITE_ROLES

from ..errors import BREAKER_NOT_OPEN
from ..models import BreakerState, CircuitBreaker
from ..selectors.breakers import connector_error_runs, spend_spikes
from .audit import SYSTEM, Actor, audit_record


def automation_managers(*, tenant) -> list[User]:
    """The people who may approve automation: active owners, admins and managers."""
    return list(User.objects.filter(tenant=tenant, is_active=True, role__in=WRITE_ROLES))


def _trip(*, tenant, account, reason: str, details: dict, now: dt.datetime) -> CircuitBreaker:
    breaker = CircuitBreaker.objects.for_tenant(tenant).select_for_update().filter(ad_account=account).first()
    if breaker is None:
        breaker = CircuitBreaker.objects.for_tenant(tenant).create(
            tenant=tenant, ad_account=account, reason=reason, details=details, tripped_at=now)
    else:
        breaker.state, breaker.reason, breaker.details, breaker.tripped_at = BreakerState.OPEN, reason, details, now
        breaker.trip_count += 1
        breaker.save()
    text = ("spend spiked" if reason == "spend_spike" else "the platform connection keeps failing")
    audit_record(tenant=tenant, event="breaker", decision="tripped", actor=SYSTEM, action="circuit_breaker",
                 reason=f"Automation stopped on {account.name}: {text}.", details={"reason": reason, **details},
                 ad_account_id=account.pk, target=f"{account.name} ({account.platform})")
    notification_send(tenant=tenant, users=automation_managers(tenant=tenant), category=NotificationCategory.BUDGET_ALERTS,
                      title=f"Automation stopped on {account.name}",
                      body=(f"The circuit breaker tripped because {text}. Autopilot and rules will not change this "
                            "account's campaigns until someone resumes automation on it."),
                      data={"ad_account_id": str(account.pk), "reason": reason, "breaker_id": str(breaker.pk)})
    return breaker


def circuit_breakers_check(*, tenant, now: dt.datetime | None = None) -> list[CircuitBreaker]:
    """Trips the breaker of every active account that spiked or keeps failing; returns those newly tripped."""
    now = now or timezone.now()
    accounts = {str(a.pk): a for a in AdAccount.objects.for_tenant(tenant).filter(is_active=True)}
    if not accounts:
        return []
    breakers = {str(b.ad_account_id): b for b in CircuitBreaker.objects.for_tenant(tenant)}
    open_ids = {a for a, b in breakers.items() if b.state == BreakerState.OPEN}
    candidates = [a for a in accounts.values() if str(a.pk) not in open_ids]
    if not candidates:
        return []
    resumed = {a: b.resumed_at for a, b in breakers.items() if b.resumed_at}
    spikes = spend_spikes(tenant=tenant, accounts=candidates, now=now, resumed=resumed)
    errors = connector_error_runs(tenant=tenant, accounts=candidates, resumed=resumed)
    tripped = []
    with transaction.atomic():
        for account_id, details in spikes.items():
            tripped.append(_trip(tenant=tenant, account=accounts[account_id], reason="spend_spike", details=details,
                                 now=now))
        for account_id, details in errors.items():
            if account_id not in spikes:
                tripped.append(_trip(tenant=tenant, account=accounts[account_id], reason="connector_errors",
                                     details=details, now=now))
    return tripped


def circuit_breaker_resume(*, tenant, breaker: CircuitBreaker, actor: Actor) -> CircuitBreaker:
    with transaction.atomic():
        breaker = CircuitBreaker.objects.for_tenant(tenant).select_for_update().select_related("ad_account").get(
            pk=breaker.pk)
        if breaker.state != BreakerState.OPEN:
            raise Conflict("Automation is not stopped on this ad account.", code=BREAKER_NOT_OPEN)
        breaker.state, breaker.resumed_at, breaker.resumed_by = BreakerState.CLOSED, timezone.now(), actor.user
        breaker.save()
        account = breaker.ad_account
        audit_record(tenant=tenant, event="breaker", decision="resumed", actor=actor, action="circuit_breaker",
                     reason=f"{actor.name} resumed automation on {account.name}.",
                     details={"reason": breaker.reason, "tripped_at": breaker.tripped_at.isoformat()},
                     ad_account_id=account.pk, target=f"{account.name} ({account.platform})")
    return breaker
