"""Autopilot: status and settings, actions (pending, history, approve, reject, rollback), run now, circuit
breakers. All need the `autopilot` plan feature; writes need owner, admin or manager (or write:trust keys)."""
from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import serializers as s
from ..filters import ActionFilterSet, BreakerFilterSet
from ..models import ActionStatus, AutopilotAction, CircuitBreaker
from ..selectors.autopilot import autopilot_status
from ..services import (
    action_approve,
    action_reject,
    action_rollback,
    actor_for_request,
    autopilot_run,
    autopilot_settings_get,
    autopilot_settings_update,
    circuit_breaker_resume,
)
from .base import AutomationEndpoint

TAGS = ["autopilot"]


def actions_queryset():
    return (AutopilotAction.objects.select_related("campaign", "decided_by")
            .prefetch_related(Prefetch("rollbacks", queryset=AutopilotAction.objects.unscoped().only(
                "id", "status", "rollback_of_id")))
            .order_by("-proposed_at", "-id"))


class AutopilotStatusView(AutomationEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.AutopilotStatusSerializer,
                   description="The spec's status: enabled, mode, last_action, pending_actions, blocked_actions "
                               "(blocked in the last 24 hours) and settings; plus last_run_at and open circuit "
                               "breakers.")
    def get(self, request):
        return Response(autopilot_status(tenant=self.tenant, settings=autopilot_settings_get(tenant=self.tenant)))


class AutopilotSettingsView(AutomationEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses=s.AutopilotStatusSerializer, description="The status (as GET status).")
    def get(self, request):
        return Response(autopilot_status(tenant=self.tenant, settings=autopilot_settings_get(tenant=self.tenant)))

    @extend_schema(tags=TAGS, request=s.AutopilotSettingsUpdateSerializer, responses=s.AutopilotStatusSerializer,
                   description="enabled, mode (conservative|balanced|aggressive), max_budget_change_percent (1–100), "
                               "require_approval_above (≥ 0), pause_on_degraded_signal, target_roas (0.1–100); flat "
                               "or inside `settings`. Out of range: 422. Every change is written to the audit log.")
    def patch(self, request):
        data = parse_body(s.AutopilotSettingsUpdateSerializer, request)
        settings = autopilot_settings_update(tenant=self.tenant, actor=actor_for_request(request), data=data)
        return Response(autopilot_status(tenant=self.tenant, settings=settings))


class PendingActionsView(AutomationEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int)],
                   responses=s.AutopilotActionSerializer(many=True),
                   description="Actions waiting for approval (autopilot and rules), newest first; paginated.")
    def get(self, request):
        paginator = StratumPagination()
        rows = actions_queryset().filter(tenant=self.tenant, status=ActionStatus.PENDING)
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(s.AutopilotActionSerializer(page, many=True).data)


class AutopilotActionViewSet(AutomationEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             TenantGenericViewSet):
    model = AutopilotAction
    serializer_class = s.AutopilotActionSerializer
    pagination_class = StratumPagination

    def scoped_queryset(self):
        return actions_queryset()

    @query_filters(ActionFilterSet)
    @extend_schema(tags=TAGS, description="Every action, newest first (the history).")
    def list(self, request):
        rows = self.get_queryset()
        for key, value in ActionFilterSet.parse(request.query_params).items():
            if value:
                rows = rows.filter(**{key: value})
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.AutopilotActionSerializer(page, many=True).data)

    @extend_schema(tags=TAGS)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def _answer(self, action_obj):
        return Response(s.AutopilotActionSerializer(self.get_queryset().get(pk=action_obj.pk)).data)

    @error_responses(409, 502, 503)
    @extend_schema(tags=TAGS, request=None, responses=s.AutopilotActionSerializer,
                   description="Executes a pending action through the platform. 409 ACTION_NOT_PENDING when it is no "
                               "longer pending, TRUST_GATE_BLOCKED when the signal is unhealthy now, ACTION_STALE "
                               "when the campaign changed since the proposal (the action expires).")
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        done = action_approve(tenant=self.tenant, action=self.get_object(), actor=actor_for_request(request))
        return self._answer(done)

    @error_responses(409)
    @extend_schema(tags=TAGS, request=s.ActionRejectSerializer, responses=s.AutopilotActionSerializer,
                   description="Rejects a pending action with a reason. 409 ACTION_NOT_PENDING otherwise.")
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        target = self.get_object()
        data = parse_body(s.ActionRejectSerializer, request)
        done = action_reject(tenant=self.tenant, action=target, actor=actor_for_request(request),
                             reason=data["reason"].strip())
        return self._answer(done)

    @error_responses(409, 502, 503)
    @extend_schema(tags=TAGS, request=None, responses={201: s.AutopilotActionSerializer},
                   description="Undoes an executed action (restores the values before it) through the gate; answers "
                               "the rollback action. 409 ACTION_NOT_EXECUTED, ALREADY_ROLLED_BACK, CAMPAIGN_CHANGED "
                               "(a later change would be overwritten) or TRUST_GATE_BLOCKED.")
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        undo = action_rollback(tenant=self.tenant, action=self.get_object(), actor=actor_for_request(request))
        return Response(s.AutopilotActionSerializer(self.get_queryset().get(pk=undo.pk)).data,
                        status=status.HTTP_201_CREATED)


class AutopilotRunView(AutomationEndpoint, TenantAPIView):
    @error_responses(409)
    @extend_schema(tags=TAGS, request=None, responses=s.AutopilotRunSerializer,
                   description="Runs the engine now: fresh signal health, circuit breakers, then each proposal through "
                               "the gate (executed, pending or blocked). 409 AUTOPILOT_DISABLED when disabled.")
    def post(self, request):
        result = autopilot_run(tenant=self.tenant, trigger="manual")
        ids = [a.pk for a in result["actions"]]
        actions = {a.pk: a for a in actions_queryset().filter(tenant=self.tenant, pk__in=ids)}
        result["actions"] = s.AutopilotActionSerializer([actions[i] for i in ids], many=True).data
        return Response(result)


class CircuitBreakerViewSet(AutomationEndpoint, mixins.ListModelMixin, TenantGenericViewSet):
    model = CircuitBreaker
    serializer_class = s.CircuitBreakerSerializer
    pagination_class = StratumPagination

    def scoped_queryset(self):
        return CircuitBreaker.objects.select_related("ad_account", "resumed_by").order_by("-tripped_at", "-id")

    @query_filters(BreakerFilterSet)
    @extend_schema(tags=TAGS, description="Circuit breakers of the tenant's ad accounts (open: automation stopped there).")
    def list(self, request):
        rows = self.get_queryset()
        state = BreakerFilterSet.parse(request.query_params)["state"]
        if state:
            rows = rows.filter(state=state)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.CircuitBreakerSerializer(page, many=True).data)

    @error_responses(409)
    @extend_schema(tags=TAGS, request=None, responses=s.CircuitBreakerSerializer,
                   description="Resumes automation on the account. 409 BREAKER_NOT_OPEN when it is not stopped.")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        breaker = circuit_breaker_resume(tenant=self.tenant, breaker=self.get_object(),
                                         actor=actor_for_request(request))
        return Response(s.CircuitBreakerSerializer(breaker).data)
