"""What the console shows, read across every app (platform-wide on purpose: staff see every tenant; every query
here is `.unscoped()` or a platform table, greppable). Figures come from the apps' own selectors where they exist
(analytics.platform for the overview, billing.selectors for usage against limits)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Min, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import ApiKey, Tenant, User
from accounts.services.members import invitation_pending
from billing.models import Invoice, Subscription
from billing.selectors import tenant_limits, tenant_usage
from campaigns.models import AdAccount, AdAccountSyncRun
from cdp.models import Audience, AudienceSyncRun
from integrations.models import Connection, CrmSyncRun
from integrations.oauth.providers import PROVIDERS
from integrations.webhooks.models import Webhook, WebhookDelivery
from integrations.webhooks.services import MAX_WEBHOOKS_PER_TENANT
from stratum.api import heartbeat
from stratum.api.models import OutboxEvent
from stratum.api.ratelimit import tenant_rate_limit
from trust.models import ActionStatus, AuditLogEntry, AutopilotAction, BreakerState, CircuitBreaker

from .models import StaffAction

LIST_LIMIT = 10


@dataclass(frozen=True)
class Problem:
    """One row of the operations panel: a count, the first few rows behind it, and the console list to open."""

    key: str
    title: str
    count: int
    rows: list
    url_name: str
    query: str = ""


def provider_label(provider: str) -> str:
    spec = PROVIDERS.get(provider)
    return spec.label if spec is not None else provider


def _rows(queryset, label) -> list[dict]:
    """The first rows behind a count, each as its tenant and a line that says what is wrong."""
    return [{"tenant_id": row.tenant_id, "tenant_name": row.tenant.name, "label": label(row)}
            for row in queryset[:LIST_LIMIT]]


def _crm_connections_failing():
    last_run = CrmSyncRun.objects.unscoped().filter(connection=OuterRef("pk")).order_by("-queued_at")
    return (Connection.objects.unscoped().filter(kind=Connection.Kind.CRM)
            .annotate(last_status=Subquery(last_run.values("status")[:1]), last_run_id=Subquery(
                last_run.values("pk")[:1]), last_error_text=Subquery(last_run.values("error")[:1]))
            .filter(Q(last_status=CrmSyncRun.Status.FAILED) | Q(status=Connection.Status.ERROR))
            .select_related("tenant").order_by("tenant__name"))


def operations_panel() -> dict:
    """Failing syncs, failing or disabled webhook endpoints, the outbox backlog, actions awaiting approval,
    tripped breakers, and whether beat and the workers are alive."""
    now = timezone.now()
    crm = _crm_connections_failing()
    audiences = Audience.objects.unscoped().filter(status=Audience.Status.FAILED).select_related("tenant")
    ad_accounts = (AdAccount.objects.unscoped().filter(is_active=True).exclude(last_sync_error="")
                   .select_related("tenant"))
    webhooks_failing = Webhook.objects.unscoped().filter(is_active=True, failing_since__isnull=False)
    webhooks_disabled = Webhook.objects.unscoped().filter(is_active=False)
    deliveries_failed = WebhookDelivery.objects.unscoped().filter(status=WebhookDelivery.Status.FAILED)
    pending = OutboxEvent.objects.unscoped().filter(status=OutboxEvent.Status.PENDING)
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    approvals = AutopilotAction.objects.unscoped().filter(status=ActionStatus.PENDING).select_related("tenant")
    breakers = CircuitBreaker.objects.unscoped().filter(state=BreakerState.OPEN).select_related("tenant")
    problems = [
        Problem("crm_syncs", "CRM syncs failing", crm.count(), _rows(
                    crm, lambda c: f"{provider_label(c.provider)}: {c.last_error_text or c.last_error or c.status}"),
                "admin:integrations_crmsyncrun_changelist", "?status__exact=failed"),
        Problem("audience_syncs", "Audience syncs failing", audiences.count(),
                _rows(audiences.order_by("tenant__name", "name"), lambda a: f"{a.name} ({a.platform})"),
                "admin:cdp_audiencesyncrun_changelist", "?status__exact=failed"),
        Problem("ad_account_syncs", "Ad account syncs failing", ad_accounts.count(),
                _rows(ad_accounts.order_by("tenant__name", "name"),
                      lambda a: f"{a.name} ({a.platform}): {a.last_sync_error[:120]}"),
                "admin:campaigns_adaccountsyncrun_changelist", "?status__exact=failed"),
        Problem("webhooks_failing", "Webhook endpoints failing", webhooks_failing.count(),
                _rows(webhooks_failing.select_related("tenant").order_by("failing_since"),
                      lambda w: f"{w.name} — {w.url}, failing since {w.failing_since:%Y-%m-%d %H:%M}"),
                "admin:webhooks_webhook_changelist", "?is_active__exact=1"),
        Problem("webhooks_disabled", "Webhook endpoints disabled", webhooks_disabled.count(),
                _rows(webhooks_disabled.select_related("tenant").order_by("-disabled_at"),
                      lambda w: f"{w.name} — {w.url} ({w.disabled_reason or 'disabled'})"),
                "admin:webhooks_webhook_changelist", "?is_active__exact=0"),
        Problem("deliveries_failed", "Webhook deliveries failed", deliveries_failed.count(), [],
                "admin:webhooks_webhookdelivery_changelist", "?status__exact=failed"),
        Problem("approvals", "Autopilot actions awaiting approval", approvals.count(),
                _rows(approvals.order_by("proposed_at"), lambda a: f"{a.kind}: {a.reason[:120]}"),
                "admin:trust_autopilotaction_changelist", "?status__exact=pending"),
        Problem("breakers", "Circuit breakers tripped", breakers.count(), _rows(
                    breakers, lambda b: f"{b.reason} since {b.tripped_at:%Y-%m-%d %H:%M}"),
                "admin:trust_circuitbreaker_changelist", "?state__exact=open"),
    ]
    return {
        "problems": problems,
        "outbox": {"pending": pending.count(),
                   "oldest_age_seconds": None if oldest is None else round((now - oldest).total_seconds())},
        "beat": heartbeat.beat_status(),
        "workers": heartbeat.workers_status(),
        "queues": heartbeat.queue_depths(),
    }


def _last_sync_of(connection: Connection) -> dict | None:
    if connection.kind == Connection.Kind.CRM:
        run = CrmSyncRun.objects.unscoped().filter(connection=connection).order_by("-queued_at").first()
        return None if run is None else {"kind": "crm", "id": run.pk, "status": run.status, "at": run.finished_at
                                         or run.started_at or run.queued_at, "error": run.error}
    run = (AdAccountSyncRun.objects.unscoped().filter(ad_account__connection_id=connection.pk)
           .order_by("-started_at").first())
    return None if run is None else {"kind": "ad_account", "id": run.pk, "status": run.status,
                                     "at": run.finished_at or run.started_at, "error": run.error_message}


def failed_syncs(*, tenant: Tenant) -> list[dict]:
    """The tenant's syncs whose latest run failed, one per connection, audience or ad account: what staff re-run."""
    rows = []
    for connection in Connection.objects.unscoped().filter(tenant=tenant, kind=Connection.Kind.CRM):
        run = CrmSyncRun.objects.unscoped().filter(connection=connection).order_by("-queued_at").first()
        if run is not None and run.status == CrmSyncRun.Status.FAILED:
            rows.append({"kind": "crm", "id": run.pk, "name": provider_label(connection.provider), "error": run.error,
                         "at": run.finished_at or run.queued_at})
    for audience in Audience.objects.unscoped().filter(tenant=tenant, status=Audience.Status.FAILED):
        run = AudienceSyncRun.objects.unscoped().filter(audience=audience).order_by("-started_at").first()
        if run is not None:
            rows.append({"kind": "audience", "id": run.pk, "name": audience.name, "error": run.error,
                         "at": run.finished_at or run.started_at})
    for account in AdAccount.objects.unscoped().filter(tenant=tenant, is_active=True).exclude(last_sync_error=""):
        run = AdAccountSyncRun.objects.unscoped().filter(ad_account=account).order_by("-started_at").first()
        if run is not None and run.status == "failed":
            rows.append({"kind": "ad_account", "id": run.pk, "name": account.name, "error": run.error_message,
                         "at": run.finished_at or run.started_at})
    return rows


def tenant_console_detail(*, tenant: Tenant) -> dict:
    """Everything the tenant's console page shows besides its form: usage against every limit, members and roles,
    pending invitations, API keys, connections and their last sync, failed syncs and deliveries, audit entries."""
    limits, used = tenant_limits(tenant=tenant), tenant_usage(tenant=tenant)
    per_minute, burst = tenant_rate_limit(tenant)
    now = timezone.now()
    members = list(User.objects.filter(tenant=tenant).order_by("email"))
    connections = list(Connection.objects.unscoped().filter(tenant=tenant).order_by("kind", "provider"))
    return {
        "usage": [
            *({"name": name, "label": name.removeprefix("max_").replace("_", " "), "used": used.get(name),
               "allowed": allowed} for name, allowed in limits.items()),
            {"name": "webhooks", "label": "webhooks", "allowed": MAX_WEBHOOKS_PER_TENANT,
             "used": Webhook.objects.unscoped().filter(tenant=tenant).count()},
            {"name": "api_requests_per_minute", "label": "API requests per minute", "used": None,
             "allowed": per_minute},
            {"name": "api_burst", "label": "API burst", "used": None, "allowed": burst},
        ],
        "subscription": Subscription.objects.unscoped().filter(tenant=tenant).order_by("-created_at").first(),
        "invoices": list(Invoice.objects.unscoped().filter(tenant=tenant).order_by("-issued_at")[:LIST_LIMIT]),
        "members": [{"user": m, "invitation_pending": invitation_pending(m)} for m in members],
        "api_keys": list(ApiKey.objects.filter(tenant=tenant).order_by("-created_at")),
        "active_api_keys": ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)).count(),
        "connections": [{"connection": c, "provider": provider_label(c.provider), "last_sync": _last_sync_of(c)}
                        for c in connections],
        "failed_syncs": failed_syncs(tenant=tenant),
        "failed_deliveries": WebhookDelivery.objects.unscoped().filter(
            tenant=tenant, status=WebhookDelivery.Status.FAILED).count(),
        "audit_entries": list(AuditLogEntry.objects.unscoped().filter(tenant=tenant).order_by("-created_at")[:15]),
        "staff_actions": list(StaffAction.objects.filter(tenant=tenant).select_related("staff")[:15]),
    }


def staff_actions_recent(*, limit: int = 10) -> list[StaffAction]:
    return list(StaffAction.objects.select_related("tenant")[:limit])


def since(seconds: float | None) -> dt.timedelta | None:
    return None if seconds is None else dt.timedelta(seconds=seconds)
