"""Campaigns, dashboard, campaign analytics, pacing and the campaign builder. Views parse, call one service or
selector, serialize. Campaign endpoints need the `campaigns` scope for API keys, dashboard and analytics the
`analytics` scope."""
from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.exceptions import NotConnected, NotFound
from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.params import parse_choice, parse_date_range
from stratum.api.principals import is_api_key_request
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from . import selectors, services
from . import serializers as s
from .connectors import registered_platforms, supports_audiences
from .filters import (
    DATE_PARAMETERS,
    PAGE_PARAMETERS,
    PLATFORM_PARAMETER,
    AdAccountFilterSet,
    CampaignFilterSet,
    PacingAlertFilterSet,
    PacingFilterSet,
    campaign_filters,
    optional_range,
)
from .metrics import format_metrics, money
from .models import AdAccount, Campaign, Platform
from .platforms import PLATFORM_RULES

UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


def actor_for(request) -> str:
    if is_api_key_request(request):
        return f"api_key:{request.auth.pk}"
    return f"user:{request.user.pk}"


# --- dashboard & analytics -------------------------------------------------------------------

class DashboardPerformanceView(TenantAPIView):
    scope_resource = "analytics"

    @extend_schema(parameters=[*DATE_PARAMETERS, PLATFORM_PARAMETER], responses=s.PerformanceSerializer,
                   tags=["dashboard"], description="Daily series (every day of the range) and totals.")
    def get(self, request):
        date_range = parse_date_range(request.query_params, tz=self.tenant.timezone)
        platform = parse_choice(request.query_params, "platform", Platform.values)
        return Response(selectors.dashboard_performance(tenant=self.tenant, date_range=date_range, platform=platform))


class AnalyticsCampaignsView(TenantAPIView):
    scope_resource = "analytics"

    @query_filters(CampaignFilterSet)
    @extend_schema(parameters=[*DATE_PARAMETERS, *PAGE_PARAMETERS],
                   responses=s.CampaignAnalyticsSerializer, tags=["analytics"],
                   description="Every campaign's metrics for the period (default 30 days), ordered by spend.")
    def get(self, request):
        params = request.query_params
        date_range = parse_date_range(params, tz=self.tenant.timezone)
        filters, ordering = campaign_filters(params, default_ordering="-spend")
        campaigns, totals = selectors.campaign_analytics(tenant=self.tenant, date_range=date_range, filters=filters,
                                                         ordering=ordering)
        paginator = StratumPagination()
        page = paginator.paginate_queryset(campaigns, request, view=self)
        items = [{"campaign_id": str(c.pk), "name": c.name, "platform": c.platform, "status": c.status,
                  "budget_type": c.budget_type, "budget": money(c.budget_amount), **format_metrics(vars(c))}
                 for c in page]
        return Response({**date_range.as_dict(), "currency": self.tenant.currency, "totals": totals,
                         **paginator.wrap(items)})


# --- campaigns -------------------------------------------------------------------------------

class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """Campaigns with their metrics (lifetime, or the period asked for), changes through the platform."""

    model = Campaign
    serializer_class = s.CampaignListSerializer
    pagination_class = StratumPagination
    scope_resource = "campaigns"
    lookup_value_regex = UUID_PATTERN

    def scoped_queryset(self):
        return Campaign.objects.select_related("ad_account")

    @query_filters(CampaignFilterSet)
    @extend_schema(parameters=DATE_PARAMETERS, tags=["campaigns"],
                   description="Metrics are lifetime totals unless period or start_date/end_date is given. "
                               "`limit` above 100 is a 422.")
    def list(self, request):
        params = request.query_params
        date_range = optional_range(params, tz=self.tenant.timezone)
        filters, ordering = campaign_filters(params, default_ordering="-created_at")
        campaigns = selectors.campaign_list(tenant=self.tenant, filters=filters, ordering=ordering,
                                            date_range=date_range)
        page = self.paginate_queryset(campaigns)  # counts the campaigns, then fetches one page with its metrics
        return self.get_paginated_response(s.campaign_list_items(page))

    @extend_schema(responses=s.CampaignDetailSerializer, tags=["campaigns"])
    def retrieve(self, request, pk=None):
        campaign = selectors.campaign_detail(tenant=self.tenant, campaign=self.get_object())
        return Response(s.CampaignDetailSerializer(campaign).data)

    @error_responses(409, 502, 503)
    @extend_schema(request=s.CampaignUpdateSerializer, responses=s.CampaignDetailSerializer, tags=["campaigns"],
                   description="Changes status (active, paused, deleted) and/or the budget on the platform first; "
                               "emits campaign.paused / campaign.activated / campaign.deleted / budget.changed.")
    def partial_update(self, request, pk=None):
        campaign = self.get_object()
        data = parse_body(s.CampaignUpdateSerializer, request)
        services.campaign_update(tenant=self.tenant, campaign=campaign, status=data.get("status"),
                                 budget_amount=data.get("budget"), actor=actor_for(request),
                                 reason=data.get("reason") or "manual")
        campaign = selectors.campaign_detail(tenant=self.tenant, campaign=campaign)
        return Response(s.CampaignDetailSerializer(campaign).data)

    @error_responses(409, 502, 503)
    @extend_schema(request=None, responses={204: None}, tags=["campaigns"],
                   description="Deletes the campaign on the platform; it stays listed with status=deleted.")
    def destroy(self, request, pk=None):
        services.campaign_delete(tenant=self.tenant, campaign=self.get_object(), actor=actor_for(request),
                                 reason="manual")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=DATE_PARAMETERS, responses=s.CampaignPerformanceSerializer, tags=["campaigns"],
                   description="Daily series, totals against the previous period and per-ad figures "
                               "(default: the last 30 days in the ad account's time zone).")
    @action(detail=True, methods=["get"])
    def performance(self, request, pk=None):
        campaign = self.get_object()
        date_range = parse_date_range(request.query_params, tz=campaign.ad_account.timezone)
        return Response(selectors.campaign_performance(tenant=self.tenant, campaign=campaign, date_range=date_range))

    @extend_schema(responses=s.RecommendationsSerializer, tags=["campaigns"])
    @action(detail=True, methods=["get"])
    def recommendations(self, request, pk=None):
        return Response(selectors.campaign_recommendations(tenant=self.tenant, campaign=self.get_object()))

    @extend_schema(methods=["GET"], responses=s.SyncStatusSerializer, tags=["campaigns"],
                   description="Ad accounts with their last sync, and the 20 latest sync runs.")
    @extend_schema(methods=["POST"], request=s.SyncRequestSerializer, responses={202: s.SyncQueuedSerializer},
                   tags=["campaigns"], description="Queues a sync of every active ad account (or of one).")
    @action(detail=False, methods=["get", "post"])
    def sync(self, request):
        if request.method == "GET":
            accounts = AdAccount.objects.for_tenant(self.tenant).order_by("platform", "name")
            runs = selectors.sync_runs_latest(tenant=self.tenant)
            return Response({"accounts": s.SyncedAdAccountSerializer(accounts, many=True).data,
                             "runs": s.SyncRunSerializer(runs, many=True).data})
        data = parse_body(s.SyncRequestSerializer, request)
        account = None
        if data.get("ad_account_id"):
            account = AdAccount.objects.for_tenant(self.tenant).filter(pk=data["ad_account_id"]).first()
            if account is None:
                raise NotFound("No such ad account.")
        result = services.ad_accounts_sync_queue(tenant=self.tenant, ad_account=account, trigger="manual")
        detail = f"Sync queued for {len(result['queued'])} ad account(s)."
        return Response({"detail": detail, **result}, status=status.HTTP_202_ACCEPTED)


# --- campaign builder ----------------------------------------------------------------------

class BuilderPlatformsView(TenantAPIView):
    scope_resource = "campaigns"

    @extend_schema(responses=s.BuilderPlatformSerializer(many=True), parameters=PAGE_PARAMETERS,
                   tags=["campaign-builder"],
                   description="Every platform with its rules; `connected` when the tenant has an active ad "
                               "account on it, `available` when a connector is installed.")
    def get(self, request):
        counts = {}
        for platform in AdAccount.objects.for_tenant(self.tenant).filter(is_active=True).values_list("platform",
                                                                                                    flat=True):
            counts[platform] = counts.get(platform, 0) + 1
        installed = set(registered_platforms())
        platforms = []
        for platform, rules in PLATFORM_RULES.items():
            platforms.append({**rules.as_dict(), "connected": counts.get(platform, 0) > 0,
                              "available": platform in installed, "ad_accounts": counts.get(platform, 0),
                              "supports_audiences": supports_audiences(platform)})
        paginator = StratumPagination()  # every Stratum list is a page (the reference shows no other shape)
        return paginator.get_paginated_response(paginator.paginate_queryset(platforms, request, view=self))


class BuilderAccountsView(TenantAPIView):
    scope_resource = "campaigns"

    @query_filters(AdAccountFilterSet)
    @extend_schema(parameters=PAGE_PARAMETERS, responses=s.AdAccountListSerializer(many=True), tags=["campaign-builder"])
    def get(self, request):
        platform = AdAccountFilterSet.parse(request.query_params)["platform"]
        paginator = StratumPagination()
        page = paginator.paginate_queryset(selectors.ad_accounts_list(tenant=self.tenant, platform=platform), request,
                                           view=self)
        return paginator.get_paginated_response(s.AdAccountListSerializer(page, many=True).data)


class BuilderCampaignCreateView(TenantAPIView):
    scope_resource = "campaigns"

    @error_responses(409, 502, 503)
    @extend_schema(request=s.CampaignCreateSerializer, responses={201: s.CampaignDetailSerializer},
                   tags=["campaign-builder"],
                   description="Validates against the platform's rules (objectives, minimum budget, age 13–65, "
                               "ISO country codes) and creates the campaign through the platform; emits "
                               "campaign.created. New campaigns start paused unless status=active.")
    def post(self, request):
        data = parse_body(s.CampaignCreateSerializer, request)
        account = _builder_account(self.tenant, data["platform"], data["ad_account_id"])
        campaign = services.campaign_create(
            tenant=self.tenant, ad_account=account, name=data["name"], objective=data["objective"],
            budget_type=data["budget"]["type"], budget_amount=data["budget"]["amount"], targeting=data["targeting"],
            start_date=data.get("start_date"), end_date=data.get("end_date"), status=data["status"],
            actor=actor_for(request), reason="campaign_builder")
        campaign = selectors.campaign_detail(tenant=self.tenant, campaign=campaign)
        return Response(s.CampaignDetailSerializer(campaign).data, status=status.HTTP_201_CREATED)


def _builder_account(tenant, platform: str, account_id: str) -> AdAccount:
    """The tenant's ad account on `platform`, by Stratum id or by the platform's id (act_123456)."""
    accounts = AdAccount.objects.for_tenant(tenant).filter(platform=platform)
    try:
        account = accounts.filter(pk=uuid.UUID(account_id)).first()
    except ValueError:
        account = None
    account = account or accounts.filter(external_id=account_id).first()
    if account is None:
        if not accounts.exists():  # nothing of this platform at all: the one "not connected" answer
            raise NotConnected(f"{platform} is not connected. Connect it via /api/v1/oauth/{platform}/authorize.")
        raise NotFound(f"No {platform} ad account {account_id[:64]!r} is connected.")
    return account


# --- pacing ----------------------------------------------------------------------------------

class PacingStatusView(TenantAPIView):
    scope_resource = "campaigns"

    @query_filters(PacingFilterSet)
    @extend_schema(parameters=PAGE_PARAMETERS,
                   responses=s.PacingStatusSerializer, tags=["pacing"],
                   description="Every active campaign with a budget: expected vs actual spend in its window "
                               "(day, month for Google daily budgets, or flight), status and severity, and the "
                               "forecast of the month's (or flight's) spend with a range.")
    def get(self, request):
        wanted = PacingFilterSet.parse(request.query_params)["status"]
        items = selectors.pacing_campaigns(tenant=self.tenant)
        summary = selectors.pacing_summary(items)
        if wanted:
            items = [i for i in items if i["status"] == wanted]
        paginator = StratumPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return Response({"summary": summary, **paginator.wrap(page)})


class PacingAlertsView(TenantAPIView):
    scope_resource = "campaigns"

    @query_filters(PacingAlertFilterSet)
    @extend_schema(responses=s.PacingAlertsSerializer, tags=["pacing"])
    def get(self, request):
        filters = PacingAlertFilterSet.parse(request.query_params)
        severity, kind = filters["severity"], filters["type"]
        return Response({"alerts": selectors.pacing_alerts(tenant=self.tenant, severity=severity, kind=kind)})
