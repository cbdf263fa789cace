"""Trust layer: signal health (now, history, recompute), the gate's status, the audit log (read-only)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from campaigns.models import AdAccount
from stratum.api.exceptions import NotFound
from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.params import parse_uuid
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import serializers as s
from ..filters import AuditFilterSet
from ..models import AuditLogEntry, SignalHealthSnapshot
from ..selectors.gate import audit_log_list, gate_status
from ..services import autopilot_settings_get, circuit_breakers_check, signal_health_current, signal_health_refresh
from .base import AD_ACCOUNT_PARAMETER, DATE_PARAMETERS, TrustEndpoint, optional_time_range

TAGS = ["trust"]


def _public(health: dict) -> dict:
    return {key: health[key] for key in ("overall_score", "status", "signals", "thresholds", "weights", "window",
                                         "computed_at", "accounts")}


class SignalHealthView(TrustEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, parameters=[AD_ACCOUNT_PARAMETER], responses=s.TrustSignalHealthSerializer,
                   description="The spec's overall_score, status, signals (pixel_coverage, conversion_accuracy, "
                               "data_freshness, api_health: score 0–100 and status each) and thresholds, plus each "
                               "active ad account's own figures. With ad_account_id: that account's. Served from the "
                               "latest snapshot when it is recent, else computed now.")
    def get(self, request):
        account_id = parse_uuid(request.query_params, "ad_account_id")
        health = signal_health_current(tenant=self.tenant)
        if account_id is None:
            return Response(_public(health))
        account = next((a for a in health["accounts"] if a["ad_account_id"] == str(account_id)), None)
        if account is None:
            if not AdAccount.objects.for_tenant(self.tenant).filter(pk=account_id).exists():
                raise NotFound("No ad account with this id.")
            raise NotFound("This ad account is not active: it has no signal health.")
        body = {key: health[key] for key in ("thresholds", "weights", "window", "computed_at")}
        return Response({**body, "overall_score": account["overall_score"], "status": account["status"],
                         "signals": account["signals"], "ad_account": account})


class SignalHealthRecomputeView(TrustEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, request=None, responses=s.TrustSignalHealthSerializer,
                   description="Computes and stores signal health now (also checks the circuit breakers).")
    def post(self, request):
        health = signal_health_refresh(tenant=self.tenant, trigger="manual")
        circuit_breakers_check(tenant=self.tenant)
        return Response(_public(health))


class SignalHealthHistoryView(TrustEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, parameters=[AD_ACCOUNT_PARAMETER, *DATE_PARAMETERS,
                                          OpenApiParameter("page", int), OpenApiParameter("limit", int)],
                   responses=s.SnapshotSerializer(many=True),
                   description="Stored snapshots, newest first: the tenant's, or one ad account's with ad_account_id. "
                               "Paginated {items, total, page, pages, limit}.")
    def get(self, request):
        params = request.query_params
        account_id = parse_uuid(params, "ad_account_id")
        rows = SignalHealthSnapshot.objects.for_tenant(self.tenant).order_by("-computed_at", "-id")
        if account_id is None:
            rows = rows.filter(ad_account__isnull=True)
        else:
            if not AdAccount.objects.for_tenant(self.tenant).filter(pk=account_id).exists():
                raise NotFound("No ad account with this id.")
            rows = rows.filter(ad_account_id=account_id)
        window = optional_time_range(params, tenant=self.tenant)
        if window:
            rows = rows.filter(computed_at__gte=window[0], computed_at__lt=window[1])
        paginator = StratumPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(s.SnapshotSerializer(page, many=True).data)


class GateStatusView(TrustEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.GateStatusSerializer,
                   description="Per active ad account: its signal, its circuit breaker and what the gate answers "
                               "automation now (spend increases, decreases); the gate's allowed/held/blocked counts "
                               "over the last 24 hours.")
    def get(self, request):
        health = signal_health_current(tenant=self.tenant)
        return Response(gate_status(tenant=self.tenant, health=health,
                                    settings=autopilot_settings_get(tenant=self.tenant)))


class AuditLogViewSet(TrustEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """Append-only: there is no create, update or delete here (405), nor anywhere else."""

    model = AuditLogEntry
    serializer_class = s.AuditLogEntrySerializer
    pagination_class = StratumPagination

    def scoped_queryset(self):
        return AuditLogEntry.objects.order_by("-created_at", "-id")

    @query_filters(AuditFilterSet)
    @extend_schema(tags=TAGS, parameters=DATE_PARAMETERS,
                   description="Every decision, newest first: gate answers (allowed/held/blocked), approvals and "
                               "rejections, executions (with the values before and after), circuit breakers, "
                               "settings changes, expiries — who or what asked, why, and the signal at that moment.")
    def list(self, request):
        params = request.query_params
        filters = AuditFilterSet.parse(params)
        filters["action"] = (filters["action"] or "")[:64] or None
        filters["date_range"] = optional_time_range(params, tenant=self.tenant)
        page = self.paginate_queryset(audit_log_list(tenant=self.tenant, filters=filters))
        return self.get_paginated_response(s.AuditLogEntrySerializer(page, many=True).data)

    @extend_schema(tags=TAGS)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)
