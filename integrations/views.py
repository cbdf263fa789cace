"""OAuth connect/callback/disconnect, connections, ad-account choice, CRM sync. Views parse and delegate."""
from __future__ import annotations

from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.params import parse_bool
from stratum.api.permissions import ADMIN_ROLES, WRITE_ROLES
from stratum.api.schema import PAGE_PARAMETERS, error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView

from . import selectors, services
from . import serializers as s
from .crm import services as crm_services
from .filters import CrmRunFilterSet
from .models import Connection
from .oauth import services as oauth

PLATFORM = OpenApiParameter("platform", str, OpenApiParameter.PATH,
                            enum=["meta", "google", "tiktok", "snapchat", "hubspot", "pipedrive", "salesforce", "zoho"])
AD_PLATFORM = OpenApiParameter("platform", str, OpenApiParameter.PATH, enum=["meta", "google", "tiktok", "snapchat"])
CRM_PROVIDER = OpenApiParameter("provider", str, OpenApiParameter.PATH,
                                enum=["hubspot", "pipedrive", "salesforce", "zoho"])
ERRORS = {400: OpenApiResponse(description="Bad or replayed state"), 404: OpenApiResponse(description="Unknown platform"),
          503: OpenApiResponse(description="PROVIDER_NOT_CONFIGURED")}


class OAuthAuthorizeView(TenantAPIView):
    """Starts the connection: where to send the browser, and the state that comes back."""

    verified_email_methods = ("GET",)  # reaches outside the tenant: needs a verified e-mail
    read_roles = ADMIN_ROLES
    required_scopes = {"GET": ["write:integrations"]}

    @extend_schema(parameters=[PLATFORM, OpenApiParameter("redirect", bool, description="302 to the provider")],
                   responses={200: s.AuthorizeResponseSerializer, 302: OpenApiResponse(description="To the provider"),
                              **ERRORS}, tags=["integrations"])
    def get(self, request, platform: str):
        result = oauth.oauth_authorize(tenant=self.tenant, user=request.user, provider=platform)
        if parse_bool(request.query_params, "redirect", default=False):
            return HttpResponseRedirect(result["authorization_url"])
        return Response(result)


class OAuthCallbackView(APIView):
    """Where the provider sends the browser back. No bearer token: the signed state names tenant and user."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(parameters=[PLATFORM, OpenApiParameter("code", str), OpenApiParameter("state", str, required=True),
                               OpenApiParameter("auth_code", str, description="TikTok sends auth_code"),
                               OpenApiParameter("error", str)],
                   responses={200: s.ConnectionSerializer, 422: OpenApiResponse(description="No code"),
                              502: OpenApiResponse(description="Provider unavailable"), **ERRORS},
                   auth=[], tags=["integrations"])
    def get(self, request, platform: str):
        connection = oauth.oauth_callback(provider=platform, params=request.query_params.dict())
        return Response(s.ConnectionSerializer(connection).data)


class OAuthDisconnectView(TenantAPIView):
    write_roles = ADMIN_ROLES
    scope_resource = "integrations"

    @error_responses(409)
    @extend_schema(parameters=[PLATFORM], request=None, responses={200: s.DisconnectResponseSerializer},
                   tags=["integrations"])
    def delete(self, request, platform: str):
        return Response(oauth.connection_disconnect(tenant=self.tenant, provider=platform))


class ConnectionListView(TenantAPIView):
    scope_resource = "integrations"

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: s.ConnectionSerializer(many=True)}, tags=["integrations"])
    def get(self, request):
        paginator = StratumPagination()
        page = paginator.paginate_queryset(Connection.objects.order_by("provider"), request, self)
        return paginator.get_paginated_response(s.ConnectionSerializer(page, many=True).data)


class PlatformAccountsView(TenantAPIView):
    """GET: the accounts the connection can reach (live); PUT: choose which of them Stratum syncs."""

    verified_email_methods = ("PUT",)  # reaches outside the tenant: needs a verified e-mail
    scope_resource = "integrations"
    write_roles = WRITE_ROLES

    @error_responses(409, 502)
    @extend_schema(parameters=[AD_PLATFORM, *PAGE_PARAMETERS], responses={200: s.ReachableAccountSerializer(many=True)},
                   tags=["integrations"])
    def get(self, request, platform: str):
        paginator = StratumPagination()
        rows = services.platform_accounts_list(tenant=self.tenant, platform=platform)
        page = paginator.paginate_queryset(rows, request, self)
        return paginator.get_paginated_response(s.ReachableAccountSerializer(page, many=True).data)

    @error_responses(409, 502)
    @extend_schema(parameters=[AD_PLATFORM], request=s.SelectAccountsSerializer,
                   responses={200: s.SelectAccountsResponseSerializer}, tags=["integrations"])
    def put(self, request, platform: str):
        data = parse_body(s.SelectAccountsSerializer, request)
        selected = services.platform_accounts_select(tenant=self.tenant, platform=platform,
                                                     external_ids=data["external_ids"])
        return Response({"platform": platform, "items": s.SelectedAccountSerializer(selected, many=True).data})


class CrmSyncView(TenantAPIView):
    verified_email_methods = ("POST",)  # reaches outside the tenant: needs a verified e-mail
    scope_resource = "integrations"
    write_roles = WRITE_ROLES

    @error_responses(409)
    @extend_schema(request=s.CrmSyncRequestSerializer, responses={202: s.CrmSyncRunSerializer}, tags=["integrations"])
    def post(self, request):
        data = parse_body(s.CrmSyncRequestSerializer, request)
        run = crm_services.crm_sync_request(tenant=self.tenant, provider=data["provider"], direction=data["direction"],
                                            requested_by=request.user)
        return Response(s.CrmSyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class CrmStatusView(TenantAPIView):
    scope_resource = "integrations"

    @extend_schema(responses={200: s.CrmStatusSerializer}, tags=["integrations"])
    def get(self, request):
        return Response(s.CrmStatusSerializer({"providers": selectors.crm_status(tenant=self.tenant)}).data)


class CrmRunListView(TenantAPIView):
    scope_resource = "integrations"

    @query_filters(CrmRunFilterSet)
    @extend_schema(parameters=PAGE_PARAMETERS,
                   responses={200: s.CrmSyncRunSerializer(many=True)}, tags=["integrations"])
    def get(self, request):
        paginator = StratumPagination()
        page = paginator.paginate_queryset(selectors.crm_runs(**CrmRunFilterSet.parse(request.query_params)), request, self)
        return paginator.get_paginated_response(s.CrmSyncRunSerializer(page, many=True).data)


class CrmSettingsView(TenantAPIView):
    verified_email_methods = ("PATCH",)  # reaches outside the tenant: needs a verified e-mail
    scope_resource = "integrations"
    write_roles = WRITE_ROLES

    @error_responses(409)
    @extend_schema(parameters=[CRM_PROVIDER], responses={200: OpenApiTypes.OBJECT}, tags=["integrations"])
    def get(self, request, provider: str):
        return Response(selectors.crm_settings(tenant=self.tenant, provider=provider))

    @error_responses(409)
    @extend_schema(parameters=[CRM_PROVIDER], request=s.CrmSettingsSerializer, responses={200: OpenApiTypes.OBJECT},
                   tags=["integrations"])
    def patch(self, request, provider: str):
        data = parse_body(s.CrmSettingsSerializer, request)
        crm_services.crm_settings_update(tenant=self.tenant, provider=provider, changes=data)
        return Response(selectors.crm_settings(tenant=self.tenant, provider=provider))
