"""Thin Celery tasks: ids in, the tenant's scope re-entered, one service called. Safe to run twice."""
from __future__ import annotations

import logging
from datetime import date

from celery import shared_task

from accounts.models import Tenant
from cdp.models import PURCHASE_EVENT, Event
from stratum.api.entitlements import tenant_features
from stratum.api.tenancy import tenant_scope

from . import digest
from .churn.services import churn_clear, churn_refresh
from .models import ChurnModelFit, Report, ReportSchedule
from .reporting.schedules import deliveries_unanswered_fail, delivery_outcome_record, schedule_run
from .reporting.services import report_render

logger = logging.getLogger("stratum.analytics")


def _tenant(tenant_id: str) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.ACTIVE).first()


@shared_task(acks_late=True)
def report_render_task(tenant_id: str, report_id: str) -> str | None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return None
    with tenant_scope(tenant):
        report = Report.objects.select_related("custom_template").filter(pk=report_id).first()
        return report_render(tenant=tenant, report=report).status if report is not None else None


@shared_task(acks_late=True)
def report_schedule_run(*, schedule_id: str, tenant_id: str) -> str | None:
    """Fired by celery beat at the schedule's local time (its PeriodicTask)."""
    tenant = _tenant(tenant_id)
    if tenant is None:
        return None
    if not tenant_features(tenant=tenant).get("custom_reports"):
        logger.info("report schedule %s skipped: tenant %s lacks custom_reports", schedule_id, tenant_id)
        return None
    with tenant_scope(tenant):
        schedule = ReportSchedule.objects.filter(pk=schedule_id).first()
        if schedule is None:
            return None
        delivery = schedule_run(tenant=tenant, schedule=schedule)
        return delivery.status if delivery is not None else None


@shared_task(acks_late=True, ignore_result=True)
def report_delivery_outcome(*, tenant_id: str, delivery_id: str, sent: bool, error: str = "") -> str | None:
    """Queued by the mail task when a scheduled report's mail was sent or failed for good."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        delivery = delivery_outcome_record(tenant=tenant, delivery_id=delivery_id, sent=sent, error=error)
        return delivery.status if delivery is not None else None


@shared_task(acks_late=True, ignore_result=True)
def report_deliveries_unanswered() -> int:
    """Hourly: scheduled-report deliveries whose mail never reached the mail task are failed and their admins told."""
    return deliveries_unanswered_fail()


@shared_task(acks_late=True)
def churn_refresh_task(tenant_id: str) -> str | None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return None
    with tenant_scope(tenant):
        return churn_refresh(tenant=tenant).status


@shared_task(acks_late=True)
def churn_refresh_all() -> int:
    """Nightly: refit every tenant that has the feature and purchases; clear tenants that lost the feature."""
    queued = 0
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE):
        if tenant_features(tenant=tenant).get("predictive_churn"):
            if Event.objects.for_tenant(tenant).filter(event_type=PURCHASE_EVENT).exists():
                churn_refresh_task.delay(str(tenant.pk))
                queued += 1
        elif ChurnModelFit.objects.for_tenant(tenant).exists():
            with tenant_scope(tenant):
                churn_clear(tenant=tenant)
    return queued


@shared_task(acks_late=True, ignore_result=True)
def weekly_digests() -> int:
    """Hourly: queues the weekly digest of every tenant whose Monday 08:00 has come (analytics/digest.py)."""
    due = digest.weekly_digests_due()
    for tenant, week_start in due:
        weekly_digest_send.delay(str(tenant.pk), week_start.isoformat())
    return len(due)


@shared_task(acks_late=True, ignore_result=True)
def weekly_digest_send(tenant_id: str, week_start: str) -> bool:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return False
    with tenant_scope(tenant):
        return digest.weekly_digest_send(tenant=tenant, week_start=date.fromisoformat(week_start)) is not None
