"""Segments: CRUD, preview, materialized members, refresh."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.filters import query_filters
from stratum.api.replicas import replica_reads
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantGenericViewSet

from .. import selectors, services
from .. import serializers as s
from ..filters import SegmentMemberFilterSet
from ..models import Segment
from .base import CdpEndpoint

TAGS = ["cdp-segments"]


@extend_schema_view(list=extend_schema(tags=TAGS), retrieve=extend_schema(tags=TAGS))
class SegmentViewSet(CdpEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = Segment
    serializer_class = s.SegmentSerializer

    def scoped_queryset(self):
        return Segment.objects.order_by("name", "pk")

    @extend_schema(tags=TAGS, request=s.SegmentCreateSerializer, responses={201: s.SegmentSerializer},
                   description="403 PLAN_LIMIT_REACHED beyond the plan's max_segments; 422 names a bad rule's path.")
    def create(self, request):
        data = parse_body(s.SegmentCreateSerializer, request)
        segment = services.segment_create(tenant=self.tenant, name=data["name"], description=data["description"],
                                          conditions=data["conditions"], created_by=request.user)
        segment.refresh_from_db()
        return Response(s.SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, request=s.SegmentUpdateSerializer, responses={200: s.SegmentSerializer})
    def partial_update(self, request, pk=None):
        segment = self.get_object()
        data = parse_body(s.SegmentUpdateSerializer, request)
        segment = services.segment_update(tenant=self.tenant, segment=segment, data=data)
        segment.refresh_from_db()
        return Response(s.SegmentSerializer(segment).data)

    @error_responses(409)
    @extend_schema(tags=TAGS, responses={204: None})
    def destroy(self, request, pk=None):
        services.segment_delete(tenant=self.tenant, segment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(tags=TAGS, request=s.SegmentPreviewRequestSerializer, responses={200: s.SegmentPreviewSerializer},
                   description="Exact size of the conditions right now and up to 10 sample profiles.")
    @action(detail=False, methods=["post"])
    @replica_reads()
    def preview(self, request):
        data = parse_body(s.SegmentPreviewRequestSerializer, request)
        preview = selectors.segment_preview(tenant=self.tenant, conditions=data["conditions"])
        return Response(s.SegmentPreviewSerializer(preview).data)

    @query_filters(SegmentMemberFilterSet)
    @extend_schema(tags=TAGS, responses={200: s.ProfileSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        segment = self.get_object()
        change = SegmentMemberFilterSet.parse(request.query_params)["change"]
        page = self.paginate_queryset(selectors.segment_members(tenant=self.tenant, segment=segment, change=change))
        return self.get_paginated_response(s.ProfileSerializer(page, many=True).data)

    @extend_schema(tags=TAGS, request=None, responses={200: s.SegmentSerializer},
                   description="Re-materializes the membership now (it also refreshes hourly).")
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        segment = services.segment_refresh(tenant=self.tenant, segment=self.get_object())
        return Response(s.SegmentSerializer(segment).data)
