"""Feature flags, subscription & payments, the Stripe webhook, and the superadmin tenant endpoints (the platform
analytics overview composes several contexts: analytics/views/platform.py)."""
from __future__ import annotations

from django.db.models import Count, OuterRef, Q, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Tenant
from stratum.api.exceptions import ApiError
from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.permissions import ADMIN_ROLES, IsSuperAdmin
from stratum.api.ratelimit import exempt, failures_limit
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from . import serializers as s
from . import services
from .filters import AdminTenantFilterSet
from .models import Invoice, Subscription
from .selectors import feature_flags_get, invoices_list, plans_list, subscription_get
from .stripe_gateway import payments_configured
from .webhooks import stripe_webhook_process


class FeatureFlagsView(TenantAPIView):
    required_scopes = {"GET": ["read:billing"]}

    @extend_schema(responses={200: s.FeatureFlagsSerializer}, tags=["features"])
    def get(self, request):
        return Response(feature_flags_get(tenant=self.tenant))


# --- subscription & payments -----------------------------------------------------------------

class SubscriptionView(TenantAPIView):
    scope_resource = "billing"

    @extend_schema(responses={200: s.CurrentSubscriptionSerializer}, tags=["subscription"])
    def get(self, request):
        data = subscription_get(tenant=self.tenant)
        data["payments_configured"] = payments_configured()
        return Response(s.CurrentSubscriptionSerializer(data).data)


class PlansView(TenantAPIView):
    scope_resource = "billing"

    @extend_schema(parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int)],
                   responses={200: s.PlanSerializer(many=True)}, tags=["subscription"])
    def get(self, request):
        paginator = StratumPagination()
        page = paginator.paginate_queryset(plans_list(tenant=self.tenant), request, view=self)
        return paginator.get_paginated_response(s.PlanSerializer(page, many=True).data)


class CheckoutView(TenantAPIView):
    """Owners and admins open a Stripe Checkout Session (or change the running subscription's plan)."""

    verified_email_methods = ("POST",)  # reaches outside the tenant: needs a verified e-mail
    scope_resource = "billing"
    write_roles = ADMIN_ROLES

    @error_responses(409, 502, 503)
    @extend_schema(request=s.CheckoutRequestSerializer, responses={201: s.CheckoutResponseSerializer,
                                                                  200: s.CheckoutResponseSerializer},
                   tags=["payments"])
    def post(self, request):
        data = parse_body(s.CheckoutRequestSerializer, request)
        result = services.checkout_start(tenant=self.tenant, user=request.user, **data)
        body = s.CheckoutResponseSerializer(result).data
        return Response(body, status=status.HTTP_201_CREATED if result.mode == "checkout" else status.HTTP_200_OK)


class CancelSubscriptionView(TenantAPIView):
    verified_email_methods = ("POST",)  # reaches outside the tenant: needs a verified e-mail
    scope_resource = "billing"
    write_roles = ADMIN_ROLES

    @error_responses(409, 502, 503)
    @extend_schema(request=s.CancelRequestSerializer, responses={200: s.SubscriptionSerializer}, tags=["subscription"])
    def post(self, request):
        data = parse_body(s.CancelRequestSerializer, request)
        subscription = services.subscription_cancel(tenant=self.tenant, reason=data["reason"].strip())
        return Response(s.SubscriptionSerializer(subscription).data)


class BillingHistoryViewSet(mixins.ListModelMixin, TenantGenericViewSet):
    model = Invoice
    serializer_class = s.InvoiceSerializer
    scope_resource = "billing"

    def scoped_queryset(self):
        return invoices_list(tenant=self.tenant)

    @extend_schema(tags=["payments"])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


# Requests that fail the signature check (or are no Stripe event), per client address: Stripe itself never fails it.
STRIPE_FAILURES_PER_MINUTE, STRIPE_FAILURES_BURST = 30, 10


class StripeWebhookView(APIView):
    """Unauthenticated: the `Stripe-Signature` header is the proof. Idempotent per event id."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # verified first; only failures are limited (below), per client address
    parser_classes: list = []
    max_body_bytes = 512 * 1024

    @error_responses(503)
    @extend_schema(request={"application/json": {"type": "object", "description": "A Stripe Event."}},
                   parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER, required=True)],
                   responses={200: s.WebhookAckSerializer}, auth=[], tags=["payments"])
    def post(self, request):
        try:
            result = stripe_webhook_process(payload=request.body, signature=request.headers.get("Stripe-Signature"))
        except ApiError:
            failures_limit(request, scope="stripe-webhook-failures", per_minute=STRIPE_FAILURES_PER_MINUTE,
                           burst=STRIPE_FAILURES_BURST)
            raise
        exempt(request)  # a correctly signed event is never refused nor counted by a limiter
        return Response({"received": True, "event_id": result.event_id, "outcome": result.outcome})


# --- superadmin ------------------------------------------------------------------------------

class SuperAdminTenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Platform staff only: every tenant, filterable by plan and status."""

    serializer_class = s.AdminTenantSerializer
    permission_classes = [IsAuthenticated, IsSuperAdmin]
    pagination_class = StratumPagination

    def get_queryset(self):
        # Platform-wide on purpose: the staff read every tenant's subscription.
        subscription_status = (Subscription.objects.unscoped().filter(tenant=OuterRef("pk"))
                               .order_by("-created_at").values("status")[:1])
        queryset = Tenant.objects.annotate(
            user_count=Count("users", filter=Q(users__is_active=True)),
            subscription_status=Subquery(subscription_status),
        ).order_by("name")
        if self.action != "list":
            return queryset
        filters = AdminTenantFilterSet.parse(self.request.query_params)
        if filters["plan"]:
            queryset = queryset.filter(plan=filters["plan"])
        if filters["status"]:
            queryset = queryset.filter(status=filters["status"])
        if filters["search"]:
            queryset = queryset.filter(Q(name__icontains=filters["search"]) | Q(slug__icontains=filters["search"]))
        return queryset

    def get_serializer_class(self):
        return s.AdminTenantDetailSerializer if self.action in ("retrieve", "partial_update") \
            else s.AdminTenantSerializer

    @query_filters(AdminTenantFilterSet)
    @extend_schema(tags=["superadmin"])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.AdminTenantDetailSerializer}, tags=["superadmin"])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=s.AdminUpdateTenantSerializer, responses={200: s.AdminTenantDetailSerializer},
                   tags=["superadmin"])
    def partial_update(self, request, pk=None):
        tenant = self.get_object()
        services.tenant_admin_update(tenant=tenant, data=parse_body(s.AdminUpdateTenantSerializer, request))
        return Response(s.AdminTenantDetailSerializer(self.get_queryset().get(pk=tenant.pk)).data)
