"""Reads: CRM sync status per provider, run history, CRM settings."""
from __future__ import annotations

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery

from accounts.models import Tenant

from .crm import CRM_CONNECTORS
from .crm.services import DEFAULT_SCHEDULE, crm_connection_get
from .models import CRM_PROVIDERS, Connection, CrmSyncRun
from .oauth.providers import PROVIDERS


def crm_status(*, tenant: Tenant) -> list[dict]:
    """One entry per CRM: connection state, the latest run and the last successful finish (3 queries)."""
    connections = {c.provider: c for c in Connection.objects.for_tenant(tenant).filter(provider__in=CRM_PROVIDERS)}
    latest_ids = (CrmSyncRun.objects.for_tenant(tenant).filter(provider=OuterRef("provider"))
                  .order_by("-queued_at").values("pk")[:1])
    per_provider = (CrmSyncRun.objects.for_tenant(tenant).values("provider")
                    .annotate(latest=Subquery(latest_ids),
                              last_success=Max("finished_at", filter=Q(status__in=(CrmSyncRun.Status.SUCCEEDED,
                                                                                    CrmSyncRun.Status.PARTIAL)))))
    summary = {row["provider"]: row for row in per_provider}
    runs = CrmSyncRun.objects.for_tenant(tenant).in_bulk([row["latest"] for row in summary.values() if row["latest"]])
    result = []
    for provider in CRM_PROVIDERS:
        connection = connections.get(provider)
        row = summary.get(provider) or {}
        result.append({
            "provider": provider, "configured": PROVIDERS[provider].configured(), "connected": connection is not None,
            "connection_status": connection.status if connection else None,
            "schedule": ((connection.settings or {}).get("schedule", DEFAULT_SCHEDULE)) if connection else "off",
            "last_run": runs.get(row.get("latest")), "last_success_at": row.get("last_success"),
        })
    return result


def crm_runs(*, provider: str | None = None) -> QuerySet:
    runs = CrmSyncRun.objects.order_by("-queued_at")
    return runs.filter(provider=provider) if provider else runs


def crm_settings(*, tenant: Tenant, provider: str) -> dict:
    connection = crm_connection_get(tenant=tenant, provider=provider, active=False)
    settings = connection.settings or {}
    defaults = CRM_CONNECTORS[provider].default_field_map
    return {"provider": provider, "default_field_mapping": defaults,
            "field_mapping": {**defaults, **(settings.get("field_mapping") or {})},
            "segments_field": settings.get("segments_field", ""),
            "schedule": settings.get("schedule", DEFAULT_SCHEDULE),
            "direction": settings.get("direction", "bidirectional")}
