"""Analytics endpoints: attribution (+ compare), funnels and the funnel report, insights, what-if, churn.
API keys need `read:analytics` (`write:analytics` to change funnels or queue a churn refresh)."""
from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from stratum.api.exceptions import NotFound, ValidationFailed
from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination, parse_positive_int
from stratum.api.params import local_today, parse_choice, parse_choices, parse_date_range, parse_number, parse_uuid
from stratum.api.permissions import ROLES, WRITE_ROLES, Role
from stratum.api.replicas import replica_reads
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import serializers as s
from ..attribution import MODELS, AttributionQuery, attribution_compare, attribution_report
from ..attribution.compare import DEFAULT_REPLICATES, MAX_REPLICATES
from ..attribution.report import DEFAULT_HALF_LIFE_DAYS, DEFAULT_LOOKBACK_DAYS, MAX_LOOKBACK_DAYS
from ..churn.selectors import churn_predictions, churn_summary
from ..churn.services import churn_refresh_queue
from ..filters import ChurnPredictionFilterSet
from ..funnels import breakdown_validate, funnel_create, funnel_delete, funnel_report, funnel_update
from ..insights import INSIGHT_TYPES, insights_list, what_if_simulate
from ..models import Funnel

UUID_PATH = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/\-]{0,63}$")
MAX_RANGE_DAYS = 366
ANALYST_ROLES = (*WRITE_ROLES, Role.ANALYST)
TAGS = ["analytics"]

DATE_PARAMETERS = [
    OpenApiParameter("period", str, description="7d, 30d, 90d … (at most 366d), ending today in the tenant's zone"),
    OpenApiParameter("start_date", str, description="YYYY-MM-DD (with end_date; not in the future)"),
    OpenApiParameter("end_date", str, description="YYYY-MM-DD"),
]
ATTRIBUTION_PARAMETERS = [
    *DATE_PARAMETERS,
    OpenApiParameter("lookback_days", int, description=f"Touchpoints up to this many days before a conversion count "
                                                       f"(1–{MAX_LOOKBACK_DAYS}, default {DEFAULT_LOOKBACK_DAYS})"),
    OpenApiParameter("order", int, description="Markov chain order for data_driven (1–3, default 1)"),
    OpenApiParameter("half_life_days", float, description=f"time_decay half-life (0.1–90 days, default "
                                                          f"{DEFAULT_HALF_LIFE_DAYS:g})"),
    OpenApiParameter("conversion_event", str,
                     description="Conversion event type(s), comma-separated (default purchase)"),
]


def analysis_range(params, tenant):
    date_range = parse_date_range(params, tz=tenant.timezone, max_days=MAX_RANGE_DAYS)
    if date_range.end > local_today(tenant.timezone):
        raise ValidationFailed(errors={"end_date": ["The range may not end in the future."]})
    return date_range


def attribution_query(params, tenant) -> AttributionQuery:
    events = [e.strip() for e in (params.get("conversion_event") or "purchase").split(",") if e.strip()]
    if not events or len(events) > 5 or not all(EVENT_TYPE_RE.match(e) for e in events):
        raise ValidationFailed(errors={"conversion_event": ["1 to 5 event types, comma-separated."]})
    return AttributionQuery(
        date_range=analysis_range(params, tenant),
        lookback_days=parse_positive_int(params, "lookback_days", DEFAULT_LOOKBACK_DAYS, maximum=MAX_LOOKBACK_DAYS),
        order=parse_positive_int(params, "order", 1, maximum=3),
        half_life_days=parse_number(params, "half_life_days", minimum=0.1, maximum=90, default=DEFAULT_HALF_LIFE_DAYS),
        conversion_events=tuple(dict.fromkeys(events)))


class AnalyticsEndpoint:
    scope_resource = "analytics"
    lookup_value_regex = UUID_PATH


class AttributionView(AnalyticsEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.AttributionSerializer, parameters=[
        OpenApiParameter("model", str, enum=MODELS, description="default data_driven"), *ATTRIBUTION_PARAMETERS],
        description="Conversions and revenue of the period credited to channels and campaigns by one model; both "
                    "lists sum to the observed totals. Too few conversions: 200 with insufficient_data.")
    @replica_reads()
    def get(self, request):
        model = parse_choice(request.query_params, "model", MODELS, default="data_driven")
        if model == "shapley" and request.query_params.get("order") not in (None, "", "1"):
            raise ValidationFailed(errors={"order": ["The Shapley model uses the first-order chain (order=1)."]})
        return Response(attribution_report(tenant=self.tenant, model=model,
                                           query=attribution_query(request.query_params, self.tenant)))


class AttributionCompareView(AnalyticsEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.AttributionCompareSerializer, parameters=[
        *ATTRIBUTION_PARAMETERS,
        OpenApiParameter("bootstrap", int, description=f"Bootstrap replicates (10–{MAX_REPLICATES}, default "
                                                       f"{DEFAULT_REPLICATES})"),
        OpenApiParameter("confidence", float, description="Interval level (0.5–0.99, default 0.95)"),
        OpenApiParameter("seed", int, description="Random seed of the resampling (default 0: reproducible)")],
        description="Every model on the same journeys with bootstrap intervals, and the channels where the models "
                    "disagree most (flagged when beyond the resampling noise).")
    @replica_reads()
    def get(self, request):
        params = request.query_params
        return Response(attribution_compare(
            tenant=self.tenant, query=attribution_query(params, self.tenant),
            replicates=parse_positive_int(params, "bootstrap", DEFAULT_REPLICATES, minimum=10, maximum=MAX_REPLICATES),
            confidence=parse_number(params, "confidence", minimum=0.5, maximum=0.99, default=0.95),
            seed=parse_positive_int(params, "seed", 0, minimum=0, maximum=2 ** 31 - 1)))


class FunnelViewSet(AnalyticsEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = Funnel
    serializer_class = s.FunnelSerializer
    pagination_class = StratumPagination
    write_roles = ANALYST_ROLES

    def scoped_queryset(self):
        return Funnel.objects.order_by("name", "pk")

    @extend_schema(tags=TAGS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=TAGS)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(tags=TAGS, request=s.FunnelWriteSerializer, responses={201: s.FunnelSerializer},
                   description="Steps: 2–10 of {event_type, name?, where?: [CDP event-property rules]}; an event type "
                               "never tracked is a 422.")
    def create(self, request):
        data = parse_body(s.FunnelWriteSerializer, request)
        funnel = funnel_create(tenant=self.tenant, created_by=request.user, **data)
        return Response(s.FunnelSerializer(funnel).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, request=s.FunnelUpdateSerializer, responses=s.FunnelSerializer)
    def partial_update(self, request, pk=None):
        funnel = self.get_object()
        data = parse_body(s.FunnelUpdateSerializer, request)
        return Response(s.FunnelSerializer(funnel_update(tenant=self.tenant, funnel=funnel, data=data)).data)

    @extend_schema(tags=TAGS, request=None, responses={204: None})
    def destroy(self, request, pk=None):
        funnel_delete(tenant=self.tenant, funnel=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class FunnelReportView(AnalyticsEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.FunnelReportSerializer, parameters=[
        OpenApiParameter("funnel_id", str, required=True), *DATE_PARAMETERS,
        OpenApiParameter("breakdown", str, description="properties.<key> of the step-1 event")],
        description="Per step: profiles, conversion from the previous and the first step, median time from the "
                    "previous step. No entrant in the period: insufficient_data.")
    @replica_reads()
    def get(self, request):
        params = request.query_params
        funnel_id = parse_uuid(params, "funnel_id", required=True)
        breakdown = breakdown_validate(params.get("breakdown") or None)
        date_range = analysis_range(params, self.tenant)
        funnel = Funnel.objects.filter(pk=funnel_id).first()
        if funnel is None:
            raise NotFound("Funnel not found.")
        return Response(funnel_report(tenant=self.tenant, funnel=funnel, date_range=date_range, breakdown=breakdown))


class InsightsView(AnalyticsEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.InsightsSerializer, parameters=[
        OpenApiParameter("types", str, description=f"Comma-separated: {', '.join(INSIGHT_TYPES)} (default all)")],
        description="Budget reallocation from fitted response curves, anomalies (robust, weekday-aware z-scores), "
                    "creative fatigue, pacing risks and signal-health problems, each with its statistics.")
    @replica_reads()
    def get(self, request):
        types = parse_choices(request.query_params, "types", INSIGHT_TYPES)
        return Response(insights_list(tenant=self.tenant, types=types or None))


class WhatIfView(AnalyticsEndpoint, TenantAPIView):
    required_feature = "what_if_simulator"
    required_scopes = {"*": ["read:analytics"]}  # a simulation changes nothing: POST needs read:analytics
    write_roles = ROLES

    @extend_schema(tags=TAGS, request=s.WhatIfRequestSerializer, responses=s.WhatIfSerializer,
                   description="Predicted spend, revenue and ROAS per campaign and in total under new daily budgets, "
                               "from the campaigns' fitted response curves, with 95 % intervals.")
    @replica_reads()
    def post(self, request):
        data = parse_body(s.WhatIfRequestSerializer, request)
        return Response(what_if_simulate(tenant=self.tenant, changes=data["changes"],
                                         horizon_days=data["horizon_days"]))


class ChurnEndpoint(AnalyticsEndpoint):
    required_feature = "predictive_churn"


class ChurnSummaryView(ChurnEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.ChurnSummarySerializer,
                   description="The tenant's churn model (modified BG/NBD): parameters, customers, risk bands.")
    @replica_reads()
    def get(self, request):
        return Response(churn_summary(tenant=self.tenant))


class ChurnProfilesView(ChurnEndpoint, TenantAPIView):
    @query_filters(ChurnPredictionFilterSet)
    @extend_schema(tags=TAGS, responses=s.ChurnPredictionSerializer(many=True), parameters=[
        OpenApiParameter("page", int), OpenApiParameter("limit", int)],
        description="Customers by churn probability, highest first.")
    @replica_reads()
    def get(self, request):
        rows = churn_predictions(tenant=self.tenant, **ChurnPredictionFilterSet.parse(request.query_params))
        paginator = StratumPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return Response(paginator.wrap(s.ChurnPredictionSerializer(page, many=True).data))


class ChurnRefreshView(ChurnEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, request=None, responses={202: s.QueuedSerializer},
                   description="Queues a refit of the churn model (it also runs nightly).")
    def post(self, request):
        churn_refresh_queue(tenant=self.tenant)
        return Response({"detail": "Churn refresh queued."}, status=status.HTTP_202_ACCEPTED)
