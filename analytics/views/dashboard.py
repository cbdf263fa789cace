"""The dashboard's composed views: the overview and the signal health (campaigns' figures, trust's health)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from campaigns.filters import DATE_PARAMETERS
from stratum.api.params import parse_date_range
from stratum.api.replicas import replica_reads
from stratum.api.views import TenantAPIView
from trust.services import signal_health_summary

from .. import serializers as s
from ..dashboard import dashboard_overview


class DashboardOverviewView(TenantAPIView):
    scope_resource = "analytics"

    @extend_schema(parameters=DATE_PARAMETERS, responses=s.DashboardOverviewSerializer, tags=["dashboard"],
                   description="Totals of the period (default: the last 30 days), the change against the previous "
                               "period of the same length, active campaigns, signal health and spend per platform.")
    @replica_reads()
    def get(self, request):
        date_range = parse_date_range(request.query_params, tz=self.tenant.timezone)
        return Response(dashboard_overview(tenant=self.tenant, date_range=date_range))


class DashboardSignalHealthView(TenantAPIView):
    scope_resource = "analytics"

    @extend_schema(responses=s.SignalHealthSerializer, tags=["dashboard"],
                   description="The trust engine's signal health (four components, cached 5 minutes, dropped "
                               "after every sync) with data freshness per ad account (sync recency, reporting lag, "
                               "missing days).")
    @replica_reads()
    def get(self, request):
        return Response(signal_health_summary(tenant=self.tenant))
