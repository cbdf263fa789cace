"""Celery tasks of the workflow app: thin, idempotent, tenant re-checked."""
from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from accounts.models import Tenant
from stratum.api.tenancy import tenant_scope

from .models import Alert, Client, CreativeSubmission, Lead
from .services.alert_runs import alert_run, alert_slot
from .services.creatives import creative_media_fetch as fetch
from .services.leads import lead_model_fit as fit

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def alert_run_scheduled(*, alert_id: str, tenant_id: str) -> dict | None:
    """Fired by the alert's PeriodicTask. A second delivery for the same schedule slot does nothing."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None or tenant.is_suspended:
        return None
    with tenant_scope(tenant):
        alert = Alert.objects.filter(pk=alert_id, is_enabled=True, client__is_active=True).first()
        if alert is None:
            return None
        now = timezone.now()
        result = alert_run(tenant=tenant, alert=alert, now=now, slot=alert_slot(alert, now))
        return {"skipped": result.skipped, "instances_created": result.instances_created,
                "instances_resolved": result.instances_resolved}


@shared_task(acks_late=True)
def lead_model_fit(*, client_id: str, tenant_id: str) -> dict | None:
    """Refreshes one client's lead outcomes, fits its model when it can and re-scores its leads."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        client = Client.objects.filter(pk=client_id).first()
        if client is None:
            return None
        model = fit(tenant=tenant, client=client)
        return {"method": model.method, "auc": model.auc, "training_samples": model.training_samples}


@shared_task(acks_late=True)
def lead_models_fit_nightly() -> int:
    """Queues the model fit of every active client that has leads (one task per client)."""
    pairs = (Lead.objects.unscoped().filter(client__is_active=True, tenant__status=Tenant.Status.ACTIVE)
             .order_by("tenant_id", "client_id").values_list("tenant_id", "client_id").distinct())
    count = 0
    for tenant_id, client_id in pairs:
        lead_model_fit.delay(client_id=str(client_id), tenant_id=str(tenant_id))
        count += 1
    return count


@shared_task(acks_late=True)
def creative_media_fetch(*, tenant_id: str, submission_id: str) -> str | None:
    """Fetches a creative given by URL once (type, size, dimensions, thumbnail); a repeat does nothing."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        submission = CreativeSubmission.objects.filter(pk=submission_id).first()
        if submission is None:
            return None
        return fetch(tenant=tenant, submission=submission).media_fetch_status
