"""Superadmin platform analytics (analytics/platform.py): platform-wide, staff only, never for API keys."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from stratum.api.permissions import IsSuperAdmin
from stratum.api.replicas import replica_reads

from .. import serializers as s
from ..platform import INTERVALS, overview_params, platform_overview


class PlatformOverviewView(APIView):
    permission_classes = [IsAuthenticated, IsSuperAdmin]

    @extend_schema(parameters=[OpenApiParameter("period", str, description="e.g. 30d, 90d, 365d"),
                               OpenApiParameter("start_date", str), OpenApiParameter("end_date", str),
                               OpenApiParameter("interval", str, enum=list(INTERVALS))],
                   responses={200: s.OverviewSerializer}, tags=["superadmin"])
    @replica_reads()
    def get(self, request):
        date_range, interval = overview_params(request.query_params)
        return Response(platform_overview(date_range=date_range, interval=interval))
