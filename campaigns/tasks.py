"""Thin Celery tasks: ids in, tenant scope re-entered, one service called. Safe to run twice."""
from __future__ import annotations

from celery import shared_task

from accounts.models import Tenant
from stratum.api.tenancy import tenant_scope

from .models import AdAccount
from .services import ad_account_sync, ad_accounts_sync_queue


@shared_task(acks_late=True, ignore_result=True)
def ad_account_sync_task(tenant_id: str, ad_account_id: str, trigger: str = "schedule") -> str | None:
    """Syncs one ad account; returns the run's status (None when the account is gone or inactive)."""
    tenant = Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.ACTIVE).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        account = AdAccount.objects.filter(pk=ad_account_id, is_active=True).first()
        if account is None:
            return None
        return ad_account_sync(tenant=tenant, ad_account=account, trigger=trigger).status


@shared_task(acks_late=True, ignore_result=True)
def ad_accounts_sync_all() -> int:
    """Periodic: queues a sync for every active ad account of every active tenant (a cross-tenant job)."""
    queued = 0
    tenant_ids = (AdAccount.objects.unscoped().filter(is_active=True, tenant__status=Tenant.Status.ACTIVE)
                  .values_list("tenant_id", flat=True).distinct())
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids)):
        with tenant_scope(tenant):
            queued += len(ad_accounts_sync_queue(tenant=tenant, trigger="schedule")["queued"])
    return queued
