"""Thin Celery tasks: ids in, tenant scope re-entered, one service called. Safe to run twice."""
from __future__ import annotations

from celery import shared_task

from accounts.models import Tenant
from stratum.api.tenancy import tenant_scope

from .crm.services import CrmSyncRetry, crm_sync_run, crm_syncs_schedule
from .oauth.services import connections_notify_expiring, connections_refresh_expiring, oauth_states_purge


@shared_task(acks_late=True, ignore_result=True)
def crm_sync_task(tenant_id: str, run_id: str) -> str | None:
    tenant = Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.ACTIVE).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        try:
            run = crm_sync_run(tenant=tenant, run_id=run_id)
        except CrmSyncRetry as retry:
            crm_sync_task.apply_async((tenant_id, run_id), countdown=retry.countdown)
            return "queued"
    return run.status if run is not None else None


@shared_task(acks_late=True, ignore_result=True)
def crm_syncs_schedule_task() -> int:
    return crm_syncs_schedule()


@shared_task(acks_late=True, ignore_result=True)
def connections_refresh_task() -> int:
    """Renews OAuth tokens that expire within 30 minutes, and purges old OAuth states."""
    oauth_states_purge()
    return connections_refresh_expiring()


@shared_task(acks_late=True, ignore_result=True)
def connections_expiry_notify_task() -> int:
    """Tells tenant admins ahead of time about connections they must reconnect (tokens Stratum cannot renew)."""
    return connections_notify_expiring()
