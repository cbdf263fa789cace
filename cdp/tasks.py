"""Thin Celery tasks: ids in, tenant scope re-entered, one service called. Safe to run twice."""
from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from accounts.models import Tenant
from stratum.api.entitlements import tenant_features
from stratum.api.exceptions import Conflict
from stratum.api.tenancy import tenant_scope

from .models import AudienceExport, AudienceSyncRun, Profile, Segment
from .services import (
    audience_runs_reap,
    audience_sync_request,
    audience_sync_run,
    audiences_due,
    event_partitions_maintain,
    events_retention_apply,
    export_build,
    exports_expire,
    journeys_catch_up_queue,
    journeys_catch_up_queued,
    journeys_marked_tenants,
    message_claims_prune,
    privacy_exports_expire,
    privacy_request_process,
    privacy_requests_resume,
    rfm_recompute,
    segment_refresh,
)


def _tenant(tenant_id: str) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id).first()


@shared_task(acks_late=True)
def segment_refresh_task(tenant_id: str, segment_id: str) -> None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return
    with tenant_scope(tenant):
        segment = Segment.objects.filter(pk=segment_id).first()
        if segment is not None:
            segment_refresh(tenant=tenant, segment=segment)


@shared_task(acks_late=True)
def segments_refresh_all() -> None:
    """Hourly: every segment of every tenant with the CDP, one task per segment."""
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE):
        for segment_id in Segment.objects.for_tenant(tenant).values_list("pk", flat=True):
            segment_refresh_task.delay(str(tenant.pk), str(segment_id))


@shared_task(acks_late=True)
def rfm_recompute_task(tenant_id: str) -> dict | None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return None
    with tenant_scope(tenant):
        return rfm_recompute(tenant=tenant)


@shared_task(acks_late=True)
def rfm_recompute_all() -> None:
    """Nightly RFM for every active tenant that has profiles."""
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE):
        if Profile.objects.for_tenant(tenant).exists():
            rfm_recompute_task.delay(str(tenant.pk))


@shared_task(acks_late=True)
def exports_expire_all() -> int:
    """Hourly: delete the files of exports past EXPORT_RETENTION_DAYS, every tenant (suspended ones too: their
    exports hold personal data all the same)."""
    expired = 0
    for tenant in Tenant.objects.all():
        with tenant_scope(tenant):
            expired += exports_expire(tenant=tenant)
    return expired


@shared_task(acks_late=True)
def journeys_catch_up_task(tenant_id: str) -> int:
    """Queued (debounced) after ingestion and the other writes that mark journeys stale: folds the marks in."""
    tenant = _tenant(tenant_id)
    if tenant is None:
        return 0
    with tenant_scope(tenant):
        return journeys_catch_up_queued(tenant=tenant)


@shared_task(acks_late=True)
def journeys_catch_up_all() -> None:
    """Every minute: a catch-up queued for each tenant with marks waiting (a lost message, a bulk load's mark)."""
    for tenant in Tenant.objects.filter(pk__in=journeys_marked_tenants()):
        with tenant_scope(tenant):
            journeys_catch_up_queue(tenant=tenant, by_sweep=True)


@shared_task(acks_late=True)
def audience_sync_task(tenant_id: str, run_id: str) -> None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return
    with tenant_scope(tenant):
        run = (AudienceSyncRun.objects.select_related("audience__ad_account", "audience__segment")
               .filter(pk=run_id).first())
        if run is not None:
            audience_sync_run(tenant=tenant, run=run)


@shared_task(acks_late=True)
def audiences_sync_due() -> None:
    """Every 15 minutes: close runs whose worker died, then queue the audiences whose sync_frequency says
    they are due."""
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE):
        with tenant_scope(tenant):
            audience_runs_reap(tenant=tenant)  # on every plan: a stuck audience could not even be deleted
            if not tenant_features(tenant=tenant).get("audience_sync"):
                continue
            for audience in audiences_due(tenant=tenant):
                try:
                    audience_sync_request(tenant=tenant, audience=audience, trigger="scheduled")
                except Conflict:  # started by someone else meanwhile
                    continue


@shared_task(acks_late=True)
def export_build_task(tenant_id: str, export_id: str) -> None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return
    with tenant_scope(tenant):
        export = AudienceExport.objects.select_related("segment").filter(pk=export_id).first()
        if export is not None:
            export_build(tenant=tenant, export=export)


@shared_task(acks_late=True)
def privacy_request_task(tenant_id: str, request_id: str) -> None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return
    with tenant_scope(tenant):
        privacy_request_process(tenant=tenant, request_id=request_id)


@shared_task(acks_late=True)
def privacy_requests_resume_all() -> None:
    """Every 5 minutes: queue again privacy requests whose task was lost or whose worker died."""
    for tenant in Tenant.objects.all():
        with tenant_scope(tenant):
            privacy_requests_resume(tenant=tenant)


@shared_task(acks_late=True)
def events_retention_task(tenant_id: str) -> int | None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return None
    with tenant_scope(tenant):
        privacy_exports_expire(tenant=tenant)
        return events_retention_apply(tenant=tenant)


@shared_task(acks_late=True)
def events_retention_all() -> None:
    """Nightly: every tenant's raw events past its retention, one task per tenant."""
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        events_retention_task.delay(str(tenant_id))


@shared_task(acks_late=True)
def event_partitions_maintain_task() -> dict:
    """Daily (platform-wide, no tenant): monthly event partitions created ahead, those past retention dropped."""
    return event_partitions_maintain()


@shared_task(acks_late=True)
def message_claims_prune_task() -> int:
    """Hourly (platform-wide): message-id claims older than an hour order no open transaction any more."""
    return message_claims_prune(older_than=timezone.now() - dt.timedelta(hours=1))
