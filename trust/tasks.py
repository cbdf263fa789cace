"""Thin Celery tasks: ids in, tenant scope re-entered, one service called; safe to run twice.

Periodic (registered in TrustConfig.ready()):
- every 5 minutes: signal health of each tenant whose last snapshot is older than TRUST_SIGNAL_MAX_AGE_MINUTES
  or that finished an ad-account sync since it (so signal health follows every sync within minutes);
- every minute: rules due by their frequency;
- every AUTOPILOT_INTERVAL_MINUTES: the autopilot of every tenant that enabled it;
- daily: expiry of stale pending actions, pruning of old snapshots.
"""
from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import Tenant
from campaigns.models import AdAccount, AdAccountSyncRun
from stratum.api.entitlements import tenant_features
from stratum.api.exceptions import Conflict
from stratum.api.tenancy import tenant_scope

from .models import RULE_FREQUENCIES, ActionStatus, AutopilotAction, AutopilotSettings, Rule, SignalHealthSnapshot
from .services import (
    actions_expire,
    autopilot_run,
    autopilot_settings_get,
    circuit_breakers_check,
    rule_run,
    signal_health_refresh,
)

logger = logging.getLogger("stratum.trust.tasks")


def _active_tenant(tenant_id) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.ACTIVE).first()


def _has_autopilot(tenant: Tenant) -> bool:
    return tenant_features(tenant=tenant).get("autopilot", False)


@shared_task(acks_late=True, ignore_result=True)
def signal_health_refresh_task(tenant_id: str, trigger: str = "schedule") -> str | None:
    tenant = _active_tenant(tenant_id)
    if tenant is None:
        return None
    with tenant_scope(tenant):
        health = signal_health_refresh(tenant=tenant, trigger=trigger)
        circuit_breakers_check(tenant=tenant)
    return health["status"]


@shared_task(acks_late=True, ignore_result=True)
def signal_health_refresh_due() -> int:
    """Cross-tenant: queues a refresh for each tenant with active ad accounts whose signal health is stale or
    predates its latest finished sync."""
    now = timezone.now()
    stale = now - dt.timedelta(minutes=settings.TRUST_SIGNAL_MAX_AGE_MINUTES)
    last = (SignalHealthSnapshot.objects.unscoped().filter(tenant=OuterRef("pk"), ad_account__isnull=True)
            .order_by("-computed_at").values("computed_at")[:1])
    tenants = (Tenant.objects.filter(status=Tenant.Status.ACTIVE)
               .filter(Exists(AdAccount.objects.unscoped().filter(tenant=OuterRef("pk"), is_active=True)))
               .annotate(last_snapshot=Subquery(last))
               .annotate(synced=Exists(AdAccountSyncRun.objects.unscoped().filter(
                   tenant=OuterRef("pk"), started_at__gte=now - dt.timedelta(days=1),
                   finished_at__gt=OuterRef("last_snapshot"))))
               .filter(Q(last_snapshot__isnull=True) | Q(last_snapshot__lt=stale) | Q(synced=True)))
    queued = 0
    for tenant in tenants.only("pk"):
        signal_health_refresh_task.delay(str(tenant.pk), "sync" if tenant.synced else "schedule")
        queued += 1
    return queued


@shared_task(acks_late=True, ignore_result=True)
def rule_run_task(tenant_id: str, rule_id: str, trigger: str = "schedule") -> str | None:
    tenant = _active_tenant(tenant_id)
    if tenant is None or not _has_autopilot(tenant):
        return None
    with tenant_scope(tenant):
        rule = Rule.objects.filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return None
        try:
            return rule_run(tenant=tenant, rule=rule, trigger=trigger).status
        except Conflict:  # a manual run of it is under way
            return None


@shared_task(acks_late=True, ignore_result=True)
def rules_dispatch() -> int:
    """Cross-tenant: claims every enabled rule due by its frequency (last_run_at moved forward in the same
    UPDATE, so two dispatchers never run a rule twice) and queues its run."""
    now = timezone.now()
    due = Q()
    for frequency, minutes in RULE_FREQUENCIES.items():
        due |= Q(frequency=frequency) & (Q(last_run_at__isnull=True) | Q(last_run_at__lte=now - dt.timedelta(
            minutes=minutes, seconds=-30)))
    candidates = list(Rule.objects.unscoped().filter(due, enabled=True, tenant__status=Tenant.Status.ACTIVE)
                      .select_related("tenant").only("pk", "tenant", "frequency", "last_run_at"))
    features: dict = {}
    queued = 0
    for rule in candidates:
        if rule.tenant_id not in features:
            features[rule.tenant_id] = _has_autopilot(rule.tenant)
        if not features[rule.tenant_id]:
            continue
        claimed = Rule.objects.unscoped().filter(pk=rule.pk, last_run_at=rule.last_run_at).update(last_run_at=now)
        if claimed:
            rule_run_task.delay(str(rule.tenant_id), str(rule.pk), "schedule")
            queued += 1
    return queued


@shared_task(acks_late=True, ignore_result=True)
def autopilot_run_task(tenant_id: str) -> int | None:
    tenant = _active_tenant(tenant_id)
    if tenant is None or not _has_autopilot(tenant):
        return None
    with tenant_scope(tenant):
        if not autopilot_settings_get(tenant=tenant).enabled:
            return None
        try:
            return autopilot_run(tenant=tenant, trigger="schedule")["proposed"]
        except Conflict:  # disabled meanwhile, or a manual run is under way
            return None


@shared_task(acks_late=True, ignore_result=True)
def autopilot_run_due() -> int:
    tenant_ids = (AutopilotSettings.objects.unscoped().filter(enabled=True, tenant__status=Tenant.Status.ACTIVE)
                  .values_list("tenant_id", flat=True))
    queued = 0
    for tenant_id in tenant_ids:
        autopilot_run_task.delay(str(tenant_id))
        queued += 1
    return queued


@shared_task(acks_late=True, ignore_result=True)
def trust_housekeeping() -> dict[str, int]:
    """Expires stale pending actions and prunes snapshots older than TRUST_SNAPSHOT_RETENTION_DAYS (the audit
    log keeps its own copy of the signal each decision was made on, and is never pruned)."""
    now = timezone.now()
    expired = 0
    tenant_ids = (AutopilotAction.objects.unscoped().filter(status=ActionStatus.PENDING, expires_at__lt=now)
                  .values_list("tenant_id", flat=True).distinct())
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids)):
        with tenant_scope(tenant):
            expired += actions_expire(tenant=tenant, now=now)
    cutoff = now - dt.timedelta(days=settings.TRUST_SNAPSHOT_RETENTION_DAYS)
    pruned, _ = SignalHealthSnapshot.objects.unscoped().filter(computed_at__lt=cutoff).delete()
    return {"expired": expired, "snapshots_pruned": pruned}
