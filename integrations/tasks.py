"""Thin Celery tasks: ids in, tenant scope re-entered, one service called. Safe to run twice."""
from __future__ import annotations

import logging

from celery import shared_task

from accounts.models import Tenant
from campaigns.connectors.base import ConnectorError
from stratum.api.tenancy import tenant_scope

from .crm.services import CrmSyncRetry, crm_contacts_delete, crm_sync_run, crm_syncs_schedule
from .oauth.services import connections_notify_expiring, connections_refresh_expiring, oauth_states_purge

logger = logging.getLogger("stratum.integrations.crm")


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


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=5)
def crm_contacts_delete_task(self, tenant_id: str, connection_id: str, external_ids: list[str]) -> int | None:
    """After a privacy erasure: the CRM deletes the person's contacts. Idempotent (a contact already gone counts as
    deleted); a CRM that is down or rate-limited is retried with back-off, a refusal is logged (by contact id)."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        try:
            result = crm_contacts_delete(tenant=tenant, connection_id=connection_id, external_ids=external_ids)
        except ConnectorError as exc:
            if exc.retryable:
                raise self.retry(countdown=60 * 2 ** self.request.retries) from exc
            logger.warning("crm contact deletion failed for connection %s: %s", connection_id, exc)
            return None
    return result.pushed if result is not None else None


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
