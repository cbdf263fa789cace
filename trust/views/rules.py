"""Automation rules: CRUD, preview (matches now, nothing changed), run now, executions (history), backtest."""
from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.exceptions import ValidationFailed
from stratum.api.pagination import StratumPagination
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantGenericViewSet

from .. import serializers as s
from ..models import Rule, RuleExecution, RuleFiring
from ..selectors.backtest import MAX_DAYS, rule_backtest
from ..selectors.rules import (
    describe,
    evaluation_metrics,
    metrics_by_lookback,
    rule_evaluate,
    scope_count,
    tenant_today,
)
from ..services import autopilot_settings_get, rule_create, rule_delete, rule_run, rule_update
from .base import AutomationEndpoint

TAGS = ["rules"]
FIRINGS_SHOWN = 50


class RuleViewSet(AutomationEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = Rule
    serializer_class = s.RuleSerializer
    pagination_class = StratumPagination

    def scoped_queryset(self):
        return Rule.objects.order_by("-created_at", "-id")

    @extend_schema(tags=TAGS, description="The tenant's automation rules, newest first; paginated.")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=TAGS)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(tags=TAGS, request=s.RuleWriteSerializer, responses={201: s.RuleSerializer},
                   description="A field, operator, lookback, action, frequency or scope outside the catalogue is a 422 "
                               "naming it (`conditions[1].operator`); a budget percent above the autopilot's "
                               "max_budget_change_percent is a 422.")
    def create(self, request):
        data = parse_body(s.RuleWriteSerializer, request)
        rule = rule_create(tenant=self.tenant, data=data, created_by=request.user)
        return Response(s.RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, request=s.RuleUpdateSerializer, responses=s.RuleSerializer)
    def partial_update(self, request, pk=None):
        rule = self.get_object()
        data = parse_body(s.RuleUpdateSerializer, request)
        return Response(s.RuleSerializer(rule_update(tenant=self.tenant, rule=rule, data=data)).data)

    @extend_schema(tags=TAGS, responses={204: None},
                   description="Deletes the rule and its executions; actions it took and the audit log stay.")
    def destroy(self, request, pk=None):
        rule_delete(tenant=self.tenant, rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(tags=TAGS, request=None, responses=s.RulePreviewSerializer,
                   parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int)],
                   description="The campaigns that match now, with every metric the rule reads (one SQL "
                               "aggregation); `in_cooldown` marks those it fired on within its cooldown. Changes "
                               "nothing.")
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        rule = self.get_object()
        now = timezone.now()
        paginator = StratumPagination()
        page = paginator.paginate_queryset(rule_evaluate(tenant=self.tenant, rule=rule, now=now), request, view=self)
        metrics = evaluation_metrics(rule)
        items = [{"campaign_id": str(row["id"]), "name": row["name"], "platform": row["platform"],
                  "status": row["status"], "budget": float(row["budget_amount"]), "budget_type": row["budget_type"],
                  "metrics": metrics_by_lookback(row, metrics), "in_cooldown": row["in_cooldown"]} for row in page]
        return Response({"rule_id": str(rule.pk), "evaluated_at": now, "conditions": describe(rule.conditions,
                                                                                              rule.lookback),
                         "evaluated": scope_count(tenant=self.tenant, rule=rule), **paginator.wrap(items)})

    @error_responses(409)
    @extend_schema(tags=TAGS, request=None, responses={201: s.RuleExecutionSerializer},
                   description="Runs the rule now (as its schedule would): acts on each match outside the cooldown, "
                               "every money action through the trust gate.")
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        execution = rule_run(tenant=self.tenant, rule=self.get_object(), trigger="manual")
        firings = RuleFiring.objects.for_tenant(self.tenant).order_by("-fired_at", "id")
        execution = (RuleExecution.objects.for_tenant(self.tenant)
                     .prefetch_related(Prefetch("firings", queryset=firings[:FIRINGS_SHOWN], to_attr="recent_firings"))
                     .get(pk=execution.pk))
        return Response(s.RuleExecutionSerializer(execution).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, responses=s.RuleExecutionSerializer(many=True),
                   parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int)],
                   description=f"The rule's runs, newest first, each with up to {FIRINGS_SHOWN} of its firings "
                               "(campaign, figures, what each action did).")
    @action(detail=True, methods=["get"])
    def executions(self, request, pk=None):
        rule = self.get_object()
        firings = RuleFiring.objects.for_tenant(self.tenant).order_by("-fired_at", "id")
        rows = (RuleExecution.objects.for_tenant(self.tenant).filter(rule=rule).order_by("-started_at", "-id")
                .prefetch_related(Prefetch("firings", queryset=firings[:FIRINGS_SHOWN], to_attr="recent_firings")))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.RuleExecutionSerializer(page, many=True).data)

    @extend_schema(tags=TAGS, request=s.BacktestRequestSerializer, responses=s.BacktestSerializer,
                   description=f"Replays the rule day by day over stored history (at most {MAX_DAYS} days, not past "
                               "today) and reports what it would have done: campaigns paused, budget moved, the spend "
                               "and revenue involved, what paused campaigns spent and earned afterwards. Changes "
                               "nothing.")
    @action(detail=True, methods=["post"])
    def backtest(self, request, pk=None):
        rule = self.get_object()
        data = parse_body(s.BacktestRequestSerializer, request)
        start, end = data["start_date"], data["end_date"]
        today = tenant_today(self.tenant)
        if start > end:
            raise ValidationFailed(errors={"start_date": ["Must not be after end_date."]})
        if end > today:
            raise ValidationFailed(errors={"end_date": [f"Must not be after today ({today.isoformat()})."]})
        if end - start >= dt.timedelta(days=MAX_DAYS):
            raise ValidationFailed(errors={"end_date": [f"The range may span at most {MAX_DAYS} days."]})
        cap = autopilot_settings_get(tenant=self.tenant).max_budget_change_percent
        return Response(rule_backtest(tenant=self.tenant, rule=rule, start=start, end=end, cap_percent=cap))
