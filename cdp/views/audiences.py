"""Audience sync (platforms, audiences, sync, history) and audience exports."""
from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns.connectors import get_connector
from campaigns.connectors.base import ConnectorError
from campaigns.models import AdAccount
from stratum.api.exceptions import Conflict, NotFound
from stratum.api.files import file_download
from stratum.api.pagination import StratumPagination
from stratum.api.schema import PAGE_PARAMETERS, error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import serializers as s
from .. import services
from ..errors import EXPORT_NOT_READY, SYNC_IN_PROGRESS
from ..models import Audience, AudienceExport, AudienceSyncRun, Segment
from ..segmentation.compiler import segment_queryset
from ..selectors.exports import csv_lines, export_rows
from ..services.audiences import BATCH_LIMITS, DEFAULT_BATCH_LIMIT
from ..services.exports import STREAM_MAX_ROWS, export_file_exists
from .base import AudienceSyncEndpoint, CdpEndpoint

TAGS = ["cdp-audience-sync"]


def _segment(segment_id) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound("Segment not found.")
    return segment


class PlatformsView(AudienceSyncEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses={200: s.PlatformSerializer(many=True)}, parameters=PAGE_PARAMETERS,
                   description="Connected ad accounts grouped by platform, for the platforms that take audiences.")
    def get(self, request):
        platforms: dict[str, dict] = {}
        for account in AdAccount.objects.filter(is_active=True).order_by("platform", "name"):
            try:
                supported = get_connector(account).supports_audiences
            except ConnectorError:
                continue
            if not supported:
                continue
            entry = platforms.setdefault(account.platform, {
                "platform": account.platform, "supports_audiences": True,
                "batch_limit": BATCH_LIMITS.get(account.platform, DEFAULT_BATCH_LIMIT), "ad_accounts": []})
            entry["ad_accounts"].append({"id": account.pk, "external_id": account.external_id, "name": account.name})
        paginator = StratumPagination()  # every Stratum list is a page (the reference shows no other shape)
        page = paginator.paginate_queryset(list(platforms.values()), request, view=self)
        return paginator.get_paginated_response(s.PlatformSerializer(page, many=True).data)


@extend_schema_view(list=extend_schema(tags=TAGS), retrieve=extend_schema(tags=TAGS))
class AudienceViewSet(AudienceSyncEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = Audience
    serializer_class = s.AudienceSerializer

    def scoped_queryset(self):
        return Audience.objects.order_by("name", "pk")

    @error_responses(409)
    @extend_schema(tags=TAGS, request=s.AudienceCreateSerializer, responses={201: s.AudienceSerializer})
    def create(self, request):
        data = parse_body(s.AudienceCreateSerializer, request)
        audience = services.audience_create(
            tenant=self.tenant, name=data["name"], segment=_segment(data["segment_id"]), platform=data["platform"],
            platform_config=dict(data["platform_config"]), sync_frequency=data["sync_frequency"])
        return Response(s.AudienceSerializer(audience).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, request=s.AudienceUpdateSerializer, responses={200: s.AudienceSerializer})
    def partial_update(self, request, pk=None):
        audience = self.get_object()
        data = parse_body(s.AudienceUpdateSerializer, request)
        if "segment_id" in data:
            data["segment"] = _segment(data.pop("segment_id"))
        audience = services.audience_update(tenant=self.tenant, audience=audience, data=data)
        return Response(s.AudienceSerializer(audience).data)

    @extend_schema(tags=TAGS, responses={204: None})
    def destroy(self, request, pk=None):
        audience = self.get_object()
        if audience.status == Audience.Status.SYNCING:
            raise Conflict("A sync of this audience is running.", code=SYNC_IN_PROGRESS)
        audience.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @error_responses(409)
    @extend_schema(tags=TAGS, request=None, responses={202: s.AudienceSyncRunSerializer},
                   description="Queues an incremental sync (only the difference since the last successful one).")
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        run = services.audience_sync_request(tenant=self.tenant, audience=self.get_object())
        run.refresh_from_db()
        return Response(s.AudienceSyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(tags=TAGS, responses={200: s.AudienceSyncRunSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        runs = AudienceSyncRun.objects.filter(audience=self.get_object()).order_by("-started_at", "pk")
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(s.AudienceSyncRunSerializer(page, many=True).data)


class ExportView(CdpEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, request=s.ExportRequestSerializer, responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV, streamed"),
        202: s.AudienceExportSerializer},
        description=f"Up to {STREAM_MAX_ROWS:,} profiles: the CSV streams in the response. Larger: 202 with an export "
                    "job whose `download_url` is set once it is ready.")
    def post(self, request):
        data = parse_body(s.ExportRequestSerializer, request)
        segment = _segment(data["segment_id"])
        if segment_queryset(tenant=self.tenant, conditions=segment.conditions).count() > STREAM_MAX_ROWS:
            export = services.export_request(tenant=self.tenant, segment=segment,
                                             include_traits=data["include_traits"],
                                             include_events=data["include_events"], requested_by=request.user)
            export.refresh_from_db()
            return Response(s.AudienceExportSerializer(export, context={"request": request}).data,
                            status=status.HTTP_202_ACCEPTED)
        header, rows = export_rows(tenant=self.tenant, segment=segment, include_traits=data["include_traits"],
                                   include_events=data["include_events"])
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}.csv"'
        return response


@extend_schema_view(retrieve=extend_schema(tags=TAGS))
class ExportJobViewSet(CdpEndpoint, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = AudienceExport
    serializer_class = s.AudienceExportSerializer

    def scoped_queryset(self):
        return AudienceExport.objects.all()

    @error_responses(409)
    @extend_schema(tags=TAGS, responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
                   description="The CSV; 409 EXPORT_NOT_READY while pending or running, if it failed, or once it "
                               "expired (EXPORT_RETENTION_DAYS after it was written; the file is then deleted). A "
                               "deployment with STORAGE_DOWNLOADS=redirect answers 302 to a signed URL valid for "
                               "minutes.")
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        export = self.get_object()
        if export.status != AudienceExport.Status.READY:
            raise Conflict(f"The export is {export.status}.", code=EXPORT_NOT_READY)
        if not export_file_exists(export):
            raise NotFound("The export file is gone; request a new export.")
        return file_download(name=export.file, filename=f"segment-{export.segment_id}.csv", content_type="text/csv")
