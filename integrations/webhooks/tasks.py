"""Thin Celery tasks: ids in, the tenant re-entered, one service called. All are safe to run twice."""
from __future__ import annotations

from celery import shared_task

from accounts.models import Tenant
from stratum.api.models import OutboxEvent
from stratum.api.tenancy import tenant_scope

from . import delivery


def _tenant(tenant_id) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id).first()


@shared_task(acks_late=True, ignore_result=True)
def outbox_event_dispatch(event_id: str, tenant_id: str | None = None) -> int:
    """Fans one outbox row out to its webhooks and users. The hook knows only the event id; the row names
    its tenant, and a given tenant id must match it."""
    row = OutboxEvent.objects.unscoped().filter(pk=event_id).values_list("tenant_id", flat=True).first()
    if row is None or (tenant_id is not None and str(row) != str(tenant_id)):
        return 0
    tenant = _tenant(row)
    with tenant_scope(tenant):
        return len(delivery.outbox_event_dispatch(tenant=tenant, event_id=event_id))


@shared_task(acks_late=True, ignore_result=True)
def webhook_delivery_attempt(delivery_id: str, tenant_id: str) -> str | None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return None
    with tenant_scope(tenant):
        attempt = delivery.delivery_attempt(tenant=tenant, delivery_id=delivery_id)
    return attempt.outcome if attempt else None


@shared_task(acks_late=True, ignore_result=True)
def webhooks_sweep() -> dict[str, int]:
    return delivery.webhooks_sweep()
