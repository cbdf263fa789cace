"""Growth and performance reports of one client (`client_id` required)."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from campaigns.models import Campaign, Platform
from stratum.api.exceptions import NotFound
from stratum.api.params import parse_choice, parse_date_range, parse_uuid

from ..selectors.clients import client_get_visible
from ..selectors.reports import DEFAULT_DAYS, PERIODS, growth_report, performance_report
from .base import WorkflowAPIView, envelope, ok

TAGS = ["catalyst: reports"]
DATES = [OpenApiParameter("start_date", OpenApiTypes.DATE, required=False),
         OpenApiParameter("end_date", OpenApiTypes.DATE, required=False)]
REPORT = serializers.JSONField()


class ReportView(WorkflowAPIView):
    def client(self, request):
        client_id = parse_uuid(request.query_params, "client_id", required=True)
        return client_get_visible(tenant=self.tenant, user=request.user, client_id=client_id)


class GrowthReportView(ReportView):
    @extend_schema(parameters=[OpenApiParameter("client_id", str, required=True), *DATES,
                               OpenApiParameter("period", str, enum=PERIODS, required=False)],
                   responses=envelope("GrowthReport", REPORT), tags=TAGS)
    def get(self, request):
        """Spend, revenue, conversions and ROAS per day/week/month with period-over-period growth in %.
        Defaults: daily, the last 30 days (weekly 84, monthly 365) in the tenant's time zone."""
        client = self.client(request)
        period = parse_choice(request.query_params, "period", PERIODS, default="daily")
        dates = parse_date_range(request.query_params, tz=self.tenant.timezone, default_days=DEFAULT_DAYS[period],
                                 allow_period=False)
        return ok(growth_report(tenant=self.tenant, client=client, dates=dates, period=period))


class PerformanceReportView(ReportView):
    @extend_schema(parameters=[OpenApiParameter("client_id", str, required=True),
                               OpenApiParameter("platform", str, enum=Platform.values, required=False),
                               OpenApiParameter("campaign_id", str, required=False), *DATES],
                   responses=envelope("PerformanceReport", REPORT), tags=TAGS)
    def get(self, request):
        """Totals, per platform and per campaign (by spend) over the range (default the last 30 days)."""
        client = self.client(request)
        platform = parse_choice(request.query_params, "platform", Platform.values)
        campaign_id = parse_uuid(request.query_params, "campaign_id")
        if campaign_id is not None and not Campaign.objects.for_tenant(self.tenant).filter(
                pk=campaign_id, ad_account__client=client).exists():
            raise NotFound("Campaign not found for this client.")
        dates = parse_date_range(request.query_params, tz=self.tenant.timezone, default_days=30, allow_period=False)
        return ok(performance_report(tenant=self.tenant, client=client, dates=dates, platform=platform,
                                     campaign_id=campaign_id))
