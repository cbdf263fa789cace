"""Reporting endpoints. API keys need `read:reporting` / `write:reporting`.

Plans: templates list, standard-template reports (PDF/CSV/XLSX), status, download and dashboard exports are on
every plan; custom templates (create/change/delete, and reports from them) and schedules need `custom_reports`.
"""
from __future__ import annotations

import datetime as dt
import re

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.entitlements import feature_require
from stratum.api.exceptions import Conflict, NotFound, ValidationFailed
from stratum.api.files import file_download
from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.params import DateRange, local_today, parse_uuid
from stratum.api.permissions import WRITE_ROLES
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import serializers as s
from ..errors import REPORT_NOT_READY, STANDARD_TEMPLATE_READ_ONLY
from ..filters import ScheduleFilterSet
from ..models import Report, ReportDelivery, ReportSchedule, ReportStatus, ReportTemplate
from ..reporting import schedules as schedule_services
from ..reporting import services
from ..reporting.render import CONTENT_TYPES
from ..reporting.selectors import template_row, templates_list
from ..reporting.templates import custom_spec, standard_template
from .analytics import ANALYST_ROLES, UUID_PATH

TAGS = ["reporting"]
CUSTOM = services.CUSTOM_FEATURE


class ReportingEndpoint:
    scope_resource = "reporting"
    lookup_value_regex = UUID_PATH
    write_roles = ANALYST_ROLES


class TemplateViewSet(ReportingEndpoint, TenantGenericViewSet):
    """Standard templates are read-only; custom ones are the tenant's rows (custom_reports)."""

    model = ReportTemplate
    serializer_class = s.TemplateSerializer
    pagination_class = StratumPagination
    lookup_value_regex = r"[0-9A-Za-z_\-]{1,64}"

    def scoped_queryset(self):
        return ReportTemplate.objects.order_by("name")

    def _custom(self, pk) -> ReportTemplate:
        template = ReportTemplate.objects.filter(pk=parse_uuid({"id": pk}, "id")).first() if _is_uuid(pk) else None
        if template is None:
            raise NotFound("Template not found.")
        return template

    @extend_schema(tags=TAGS, responses=s.TemplateSerializer(many=True),
                   description="The standard templates (every plan), then the tenant's custom templates.")
    def list(self, request):
        rows = templates_list(tenant=self.tenant)
        paginator = StratumPagination()
        return Response(paginator.wrap(paginator.paginate_queryset(rows, request, view=self)))

    @extend_schema(tags=TAGS, responses=s.TemplateSerializer, description="By id (or a standard template's key).")
    def retrieve(self, request, pk=None):
        spec = standard_template(pk)
        if spec is not None:
            return Response(template_row(spec))
        template = self._custom(pk)
        return Response(template_row(custom_spec(template), custom=template))

    @extend_schema(tags=TAGS, request=s.TemplateWriteSerializer, responses={201: s.TemplateSerializer},
                   description="A custom template (custom_reports): a kind, its sections, metrics and charts.")
    def create(self, request):
        feature_require(tenant=self.tenant, feature=CUSTOM)
        data = parse_body(s.TemplateWriteSerializer, request)
        template = services.template_create(tenant=self.tenant, data=data, created_by=request.user)
        return Response(template_row(custom_spec(template), custom=template), status=status.HTTP_201_CREATED)

    @error_responses(409)
    @extend_schema(tags=TAGS, request=s.TemplateUpdateSerializer, responses=s.TemplateSerializer)
    def partial_update(self, request, pk=None):
        feature_require(tenant=self.tenant, feature=CUSTOM)
        if standard_template(pk) is not None:
            raise Conflict("Standard templates cannot be changed; create a custom template.",
                           code=STANDARD_TEMPLATE_READ_ONLY)
        template = self._custom(pk)
        data = parse_body(s.TemplateUpdateSerializer, request)
        template = services.template_update(tenant=self.tenant, template=template, data=data)
        return Response(template_row(custom_spec(template), custom=template))

    @error_responses(409)
    @extend_schema(tags=TAGS, request=None, responses={204: None})
    def destroy(self, request, pk=None):
        feature_require(tenant=self.tenant, feature=CUSTOM)
        if standard_template(pk) is not None:
            raise Conflict("Standard templates cannot be deleted.", code=STANDARD_TEMPLATE_READ_ONLY)
        services.template_delete(tenant=self.tenant, template=self._custom(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _is_uuid(value) -> bool:
    return bool(re.fullmatch(UUID_PATH, str(value)))


class ReportViewSet(ReportingEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = Report
    serializer_class = s.ReportSerializer
    pagination_class = StratumPagination

    def scoped_queryset(self):
        return Report.objects.order_by("-created_at", "pk")

    @extend_schema(tags=TAGS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=TAGS, description="The report's status (pending, running, ready, failed) and, once ready, "
                                          "its download_url.")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(tags=TAGS, request=s.ReportCreateSerializer, responses={202: s.ReportSerializer},
                   description="Renders asynchronously; poll the report, then download it. A custom template needs "
                               "custom_reports; the client_report template needs filters.client_id.")
    def create(self, request):
        data = parse_body(s.ReportCreateSerializer, request)
        report = services.report_create(
            tenant=self.tenant, template_id=data["template_id"], name=data["name"], start=data["date_range"]["start"],
            end=data["date_range"]["end"], fmt=data["format"], filters=dict(data["filters"]),
            include_charts=data["include_charts"], requested_by=request.user)
        report.refresh_from_db()
        return Response(s.ReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(tags=TAGS, request=None, responses={204: None})
    def destroy(self, request, pk=None):
        services.report_delete(tenant=self.tenant, report=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @error_responses(409)
    @extend_schema(tags=TAGS, responses={(200, content_type): OpenApiResponse(OpenApiTypes.BINARY)
                                         for content_type in CONTENT_TYPES.values()},
                   description="The file; 409 REPORT_NOT_READY while pending or running (or if it failed). A deployment "
                               "with STORAGE_DOWNLOADS=redirect answers 302 to a signed URL valid for minutes.")
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        report = self.get_object()
        if report.status != ReportStatus.READY:
            raise Conflict(f"The report is {report.status}.", code=REPORT_NOT_READY)
        if not services.report_file_exists(report):
            raise NotFound("The report file is gone; request the report again.")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", report.name).strip("-").lower() or "report"
        return file_download(name=report.file, content_type=CONTENT_TYPES[report.format],
                             filename=f"{slug}-{report.start_date}-{report.end_date}.{report.format}")


class ExportView(ReportingEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, request=s.ExportSerializer, responses={202: s.ReportSerializer},
                   description="Renders the dashboard (or the campaigns / attribution view) for the range (default: "
                               "the last 30 days) as a report job; download it when ready.")
    def post(self, request):
        data = parse_body(s.ExportSerializer, request)
        today = local_today(self.tenant.timezone)
        given = data.get("date_range")
        date_range = (DateRange(given["start"], given["end"]) if given
                      else DateRange(today - dt.timedelta(days=29), today))
        report = services.export_create(tenant=self.tenant, export_type=data["type"], fmt=data["format"],
                                        include_charts=data["include_charts"], date_range=date_range,
                                        requested_by=request.user)
        report.refresh_from_db()
        return Response(s.ReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)


class ScheduleViewSet(ReportingEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = ReportSchedule
    serializer_class = s.ScheduleSerializer
    pagination_class = StratumPagination
    required_feature = CUSTOM
    write_roles = WRITE_ROLES

    def scoped_queryset(self):
        latest = Prefetch("deliveries", queryset=ReportDelivery.objects.order_by("-slot")[:1],
                          to_attr="latest_deliveries")
        schedules = ReportSchedule.objects.prefetch_related(latest).order_by("created_at", "pk")
        report_id = ScheduleFilterSet.parse(self.request.query_params)["report_id"] if self.action == "list" else None
        return schedules.filter(report_id=report_id) if report_id else schedules

    def _report(self, report_id) -> Report:
        report = Report.objects.filter(pk=report_id).first()
        if report is None:
            raise ValidationFailed(errors={"report_id": ["Unknown report."]})
        return report

    @query_filters(ScheduleFilterSet)
    @extend_schema(tags=TAGS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=TAGS)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(tags=TAGS, request=s.ScheduleWriteSerializer, responses={201: s.ScheduleSerializer},
                   description="E-mails the report's definition, re-rendered for the period before each run, at "
                               "`time` in `timezone` (default: the tenant's). Held with a notification when the data "
                               "is stale or signal health unhealthy.")
    def create(self, request):
        data = parse_body(s.ScheduleWriteSerializer, request)
        report = self._report(data.pop("report_id"))
        schedule = schedule_services.schedule_create(tenant=self.tenant, report=report, data=data,
                                                     created_by=request.user)
        return Response(s.ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, request=s.ScheduleUpdateSerializer, responses=s.ScheduleSerializer)
    def partial_update(self, request, pk=None):
        schedule = self.get_object()
        data = parse_body(s.ScheduleUpdateSerializer, request)
        schedule = schedule_services.schedule_update(tenant=self.tenant, schedule=schedule, data=data)
        return Response(s.ScheduleSerializer(schedule).data)

    @extend_schema(tags=TAGS, request=None, responses={204: None})
    def destroy(self, request, pk=None):
        schedule_services.schedule_delete(tenant=self.tenant, schedule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(tags=TAGS, request=None, responses={200: s.DeliverySerializer},
                   description="Runs the schedule now (same checks: may be held).")
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        delivery = schedule_services.schedule_run(tenant=self.tenant, schedule=self.get_object(), manual=True)
        return Response(s.DeliverySerializer(delivery).data)

    @extend_schema(tags=TAGS, responses={200: s.DeliverySerializer(many=True)},
                   description="Deliveries (sent, held, failed), newest first.")
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        rows = ReportDelivery.objects.filter(schedule=self.get_object()).order_by("-slot", "pk")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.DeliverySerializer(page, many=True).data)
