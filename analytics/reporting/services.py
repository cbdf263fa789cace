"""Report writes: custom templates, report requests and their rendering, dashboard exports.

A report request is validated (template, dates, format, filters), stored `pending` and rendered by a Celery task
after the commit: `running`, then `ready` with the file stored as reports/<tenant>/<id>.<format> (Django's storage: MEDIA_ROOT or S3), or
`failed` with the error. Rendering is idempotent (a ready report is left alone). Standard templates are open to
every plan; custom templates (and reports rendered from them) need the `custom_reports` feature.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from stratum.api.entitlements import feature_require
from stratum.api.exceptions import NotFound, ValidationFailed
from stratum.api.files import file_delete, file_exists, file_save
from stratum.api.params import DateRange, local_today
from stratum.api.queueing import task_enqueue
from stratum.api.replicas import replica_reads
from workflow.models import Client
from workflow.selectors import client_get_visible

from ..models import Report, ReportStatus, ReportTemplate
from .builders import document_build
from .render import render
from .templates import EXPORT_TYPES, SECTIONS, TemplateSpec, custom_spec, standard_template

logger = logging.getLogger("stratum.analytics")
MAX_RANGE_DAYS = 366
MAX_HISTORY_DAYS = 3 * 366
CUSTOM_FEATURE = "custom_reports"


# --- templates ------------------------------------------------------------------------------

def template_resolve(*, tenant, template_id) -> tuple[TemplateSpec, ReportTemplate | None]:
    """A standard template (by id or key) or the tenant's custom template; 422 when neither."""
    spec = standard_template(str(template_id))
    if spec is not None:
        return spec, None
    try:
        custom = ReportTemplate.objects.for_tenant(tenant).filter(pk=uuid.UUID(str(template_id))).first()
    except ValueError:
        custom = None
    if custom is None:
        raise ValidationFailed(errors={"template_id": ["Unknown template: use an id or key from "
                                                       "GET /reporting/templates."]})
    feature_require(tenant=tenant, feature=CUSTOM_FEATURE)
    return custom_spec(custom), custom


def _template_fields(data: dict, kind: str) -> dict:
    sections = data.get("sections")
    if sections is not None:
        unknown = [s for s in sections if s not in SECTIONS[kind]]
        if unknown or not sections:
            raise ValidationFailed(errors={"sections": [f"Pick from {', '.join(SECTIONS[kind])} (at least one)."]})
        data["sections"] = [s for s in SECTIONS[kind] if s in sections]  # the kind's order
    return data


def template_create(*, tenant, data: dict, created_by=None) -> ReportTemplate:
    kind = data["kind"]
    data = _template_fields(dict(data), kind)
    data.setdefault("sections", list(SECTIONS[kind]))
    try:
        with transaction.atomic():
            return ReportTemplate.objects.for_tenant(tenant).create(tenant=tenant, created_by=created_by, **data)
    except IntegrityError:
        raise ValidationFailed(errors={"name": ["A template with this name exists."]}) from None


def template_update(*, tenant, template: ReportTemplate, data: dict) -> ReportTemplate:
    kind = data.get("kind", template.kind)
    if kind != template.kind and "sections" not in data:
        data["sections"] = list(SECTIONS[kind])
    data = _template_fields(dict(data), kind)
    for key, value in data.items():
        setattr(template, key, value)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ValidationFailed(errors={"name": ["A template with this name exists."]}) from None
    return template


def template_delete(*, tenant, template: ReportTemplate) -> None:
    ReportTemplate.objects.for_tenant(tenant).filter(pk=template.pk).delete()


# --- reports --------------------------------------------------------------------------------

def report_range_validate(*, tenant, start: dt.date, end: dt.date, field: str = "date_range") -> DateRange:
    today = local_today(tenant.timezone)
    if start > end:
        raise ValidationFailed(errors={f"{field}.start": ["start must not be after end."]})
    if end > today:
        raise ValidationFailed(errors={f"{field}.end": [f"end may not be in the future (today is {today})."]})
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(errors={f"{field}.end": [f"A report spans at most {MAX_RANGE_DAYS} days."]})
    if (today - start).days > MAX_HISTORY_DAYS:
        raise ValidationFailed(errors={f"{field}.start": ["start may be at most three years ago."]})
    return DateRange(start, end)


def report_filters_validate(*, tenant, spec: TemplateSpec, filters: dict, user=None) -> dict:
    cleaned = {}
    if filters.get("client_id"):
        try:
            client = (client_get_visible(tenant=tenant, user=user, client_id=filters["client_id"]) if user is not None
                      else _client(tenant, filters["client_id"]))
        except NotFound:
            raise ValidationFailed(errors={"filters.client_id": ["Unknown client."]}) from None
        cleaned["client_id"] = str(client.pk)
    if filters.get("platform"):
        cleaned["platform"] = filters["platform"]
    for needed in spec.requires:
        if needed not in cleaned:
            raise ValidationFailed(errors={f"filters.{needed}": [f"The {spec.name} template needs filters.{needed}."]})
    return cleaned


def _client(tenant, client_id):
    client = Client.objects.for_tenant(tenant).filter(pk=client_id).first()
    if client is None:
        raise NotFound("Client not found.")
    return client


def report_create(*, tenant, template_id, name: str, start: dt.date, end: dt.date, fmt: str,
                  filters: dict | None = None, include_charts: bool = True, requested_by=None) -> Report:
    spec, custom = template_resolve(tenant=tenant, template_id=template_id)
    date_range = report_range_validate(tenant=tenant, start=start, end=end)
    cleaned = report_filters_validate(tenant=tenant, spec=spec, filters=filters or {}, user=requested_by)
    report = Report.objects.for_tenant(tenant).create(
        tenant=tenant, name=name or spec.name, template_key=spec.key, custom_template=custom, kind=spec.kind,
        format=fmt, start_date=date_range.start, end_date=date_range.end, filters=cleaned,
        options={"include_charts": include_charts}, requested_by=requested_by)
    report_render_later(report)
    return report


def report_render_later(report: Report) -> None:
    task_enqueue(name="analytics.tasks.report_render_task",
                 kwargs={"tenant_id": str(report.tenant_id), "report_id": str(report.pk)})


def export_create(*, tenant, export_type: str, fmt: str, include_charts: bool, date_range: DateRange,
                  requested_by=None) -> Report:
    spec = standard_template(EXPORT_TYPES[export_type])
    return report_create(tenant=tenant, template_id=spec.key, name=f"{export_type.capitalize()} export",
                         start=date_range.start, end=date_range.end, fmt=fmt, include_charts=include_charts,
                         requested_by=requested_by)


def report_spec(report: Report) -> TemplateSpec:
    if report.custom_template_id and report.custom_template is not None:
        return custom_spec(report.custom_template)
    spec = standard_template(report.template_key)
    if spec is None:  # the custom template was deleted after the report was requested
        spec = standard_template(report.kind)
    return spec


def report_file_exists(report: Report) -> bool:
    """Whether the report's stored file is there (SuspiciousFileOperation for a stored name that escapes)."""
    return file_exists(name=report.file)


def report_render(*, tenant, report: Report) -> Report:
    """Builds and writes the file; safe to run twice (a ready report is left alone)."""
    if report.status == ReportStatus.READY:
        return report
    Report.objects.for_tenant(tenant).filter(pk=report.pk).update(status=ReportStatus.RUNNING,
                                                                  started_at=timezone.now())
    name = f"reports/{tenant.pk}/{report.pk}.{report.format}"
    try:
        with replica_reads(own_writes_ok=True):  # its only write so far: this report marked running
            doc = document_build(tenant=tenant, spec=report_spec(report), name=report.name,
                                 date_range=DateRange(report.start_date, report.end_date), filters=report.filters,
                                 include_charts=bool(report.options.get("include_charts", True)))
        rendered = render(doc, report.format)
        stored = file_save(name=name, content=rendered.content)
    except Exception as exc:
        logger.exception("report %s failed to render", report.pk)
        report.status, report.finished_at = "failed", timezone.now()
        report.error = f"{type(exc).__name__}: {exc}"[:2000]
        Report.objects.for_tenant(tenant).filter(pk=report.pk).update(status=report.status, error=report.error,
                                                                       finished_at=report.finished_at)
        return report
    report.status, report.file, report.finished_at = "ready", stored, timezone.now()
    report.size_bytes, report.page_count, report.error = len(rendered.content), rendered.page_count, ""
    Report.objects.for_tenant(tenant).filter(pk=report.pk).update(
        status=ReportStatus.READY, file=report.file, finished_at=report.finished_at, size_bytes=report.size_bytes,
        page_count=report.page_count, error="")
    return report


def report_delete(*, tenant, report: Report) -> None:
    """Deletes the report and, once that commits, its stored file."""
    Report.objects.for_tenant(tenant).filter(pk=report.pk).delete()
    file_delete(name=report.file)

