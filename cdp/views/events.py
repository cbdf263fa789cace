"""Events: timeline, statistics, track one, batch of up to 1,000."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api import metrics
from stratum.api.exceptions import ValidationFailed
from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.params import parse_date_range
from stratum.api.replicas import replica_reads
from stratum.api.views import TenantAPIView, TenantViewSet

from .. import selectors, services
from .. import serializers as s
from ..filters import EventFilterSet
from ..services.events import MAX_BATCH_BYTES
from ..services.ingest import ItemStatus
from .base import CdpEndpoint

TAGS = ["cdp-events"]


class TimelinePagination(StratumPagination):
    default_limit = 50


class EventViewSet(CdpEndpoint, TenantViewSet):
    @query_filters(EventFilterSet)
    @extend_schema(tags=TAGS, responses={200: s.EventSerializer(many=True)}, parameters=[
        OpenApiParameter("page", int), OpenApiParameter("limit", int)])
    @replica_reads()
    def list(self, request):
        filters = EventFilterSet.parse(request.query_params)
        profile_id = filters["profile_id"]
        live_id = selectors.profile_live_id(tenant=self.tenant, profile_id=profile_id) if profile_id else None
        events = selectors.events_timeline(tenant=self.tenant, profile_id=live_id, event_type=filters["event_type"])
        if profile_id and live_id is None:  # a filter narrows: an unknown profile has no events (one list rule)
            events = events.none()
        paginator = TimelinePagination()
        page = paginator.paginate_queryset(events.values(*s.EVENT_FIELDS), request, view=self)
        return paginator.get_paginated_response(s.events_render(page))

    @extend_schema(tags=TAGS, responses={200: s.EventStatisticsSerializer}, parameters=[
        OpenApiParameter("period", str, description="7d, 30d, 90d …"), OpenApiParameter("start_date", str),
        OpenApiParameter("end_date", str)])
    @action(detail=False, methods=["get"])
    @replica_reads()
    def statistics(self, request):
        period = parse_date_range(request.query_params, tz=self.tenant.timezone)
        return Response(selectors.event_statistics(tenant=self.tenant, period=period))


class TrackEventView(CdpEndpoint, TenantAPIView):
    max_body_bytes = 64 * 1024

    @extend_schema(tags=TAGS, request=s.TrackEventSerializer,
                   responses={201: s.TrackResultSerializer, 200: s.TrackResultSerializer},
                   description="201 when stored; 200 with `duplicate: true` (nothing stored) for a repeated "
                               "message_id; 200 with `status: suppressed` and null ids (nothing stored) when it names "
                               "a suppressed identifier (an erased or suppressed person).")
    def post(self, request):
        result = services.event_track_raw(tenant=self.tenant, event=request.data, source="api")
        duplicate = result.status == ItemStatus.DUPLICATE
        stored = result.status != ItemStatus.SUPPRESSED
        return Response({"id": str(result.id) if stored else None,
                         "profile_id": str(result.profile_id) if stored else None, "status": result.status,
                         "duplicate": duplicate},
                        status=status.HTTP_201_CREATED if result.status == ItemStatus.CREATED else status.HTTP_200_OK)


class BatchEventsView(CdpEndpoint, TenantAPIView):
    max_body_bytes = MAX_BATCH_BYTES

    @extend_schema(tags=TAGS, request=s.BatchSerializer, responses={200: s.BatchResultSerializer},
                   description="Up to 1,000 events / 1 MB (413 above). Partial success: each item's result says "
                               "created, duplicate, rejected (with its errors) or suppressed (it names a suppressed identifier); "
                               "a rejected or suppressed item writes nothing.")
    def post(self, request):
        body = request.data
        try:
            if not isinstance(body, dict):
                raise ValidationFailed(errors={"events": ["The body is {\"events\": [...]} and nothing else."]})
            if unknown := sorted(set(body) - {"events"}):
                raise ValidationFailed(errors={key: ["Unknown field: the body is {\"events\": [...]} and nothing "
                                                     "else."] for key in unknown})
            if not isinstance(body.get("events"), list) or not body["events"]:
                raise ValidationFailed(errors={"events": ["Must be a non-empty list of events."]})
        except ValidationFailed:
            metrics.BATCHES_REJECTED.labels(reason="malformed").inc()
            raise
        results = services.events_ingest(tenant=self.tenant, events=body["events"], source="batch")
        counts = {ItemStatus.CREATED: 0, ItemStatus.DUPLICATE: 0, ItemStatus.REJECTED: 0, ItemStatus.SUPPRESSED: 0}
        for result in results:
            counts[result.status] += 1
        return Response({"received": len(results), "created": counts[ItemStatus.CREATED],
                         "duplicates": counts[ItemStatus.DUPLICATE], "rejected": counts[ItemStatus.REJECTED],
                         "suppressed": counts[ItemStatus.SUPPRESSED],
                         "results": [r.as_dict() for r in results]})
