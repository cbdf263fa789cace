"""Webhooks API. Views parse, call one service/selector, serialize."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.exceptions import NotFound
from stratum.api.filters import query_filters
from stratum.api.pagination import StratumPagination
from stratum.api.permissions import ADMIN_ROLES
from stratum.api.schema import PAGE_PARAMETERS, error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantGenericViewSet

from . import selectors, services
from . import serializers as s
from .delivery import TEST_EVENT
from .filters import DeliveryFilterSet, WebhookFilterSet
from .models import Webhook, WebhookDelivery

UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
TAGS = ["webhooks"]


class DeliveryPageSerializer(serializers.Serializer):
    items = s.WebhookDeliverySerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """Endpoints that receive the tenant's domain events. Members read; owners and admins manage them
    (a webhook sends the tenant's data to another system)."""

    verified_email_methods = ("POST", "PUT", "PATCH")  # reaches outside the tenant: needs a verified e-mail
    model = Webhook
    serializer_class = s.WebhookSerializer
    scope_resource = "webhooks"
    write_roles = ADMIN_ROLES
    lookup_value_regex = UUID_PATTERN

    def scoped_queryset(self):
        is_active = WebhookFilterSet.parse(self.request.query_params)["is_active"] if self.action == "list" else None
        return selectors.webhook_list(tenant=self.tenant, is_active=is_active)

    @query_filters(WebhookFilterSet)
    @extend_schema(tags=TAGS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=TAGS)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @error_responses(409)
    @extend_schema(request=s.WebhookCreateSerializer, responses={201: s.WebhookWithSecretSerializer}, tags=TAGS,
                   description="Creates an endpoint. Without `secret` one is generated (`whsec_…`); the answer "
                               "shows the secret this once.")
    def create(self, request):
        data = parse_body(s.WebhookCreateSerializer, request)
        webhook, secret = services.webhook_create(tenant=self.tenant, created_by=request.user, **data)
        return Response(s.WebhookWithSecretSerializer(webhook, context={"secret": secret}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=s.WebhookUpdateSerializer, responses={200: s.WebhookSerializer}, tags=TAGS)
    def partial_update(self, request, pk=None):
        webhook = services.webhook_update(tenant=self.tenant, webhook=self.get_object(),
                                          data=parse_body(s.WebhookUpdateSerializer, request))
        return Response(s.WebhookSerializer(webhook).data)

    @extend_schema(responses={204: None}, tags=TAGS)
    def destroy(self, request, pk=None):
        services.webhook_delete(tenant=self.tenant, webhook=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.WebhookDeliverySerializer}, tags=TAGS,
                   description=f"Sends a signed `{TEST_EVENT}` event now and answers with the attempt. Not retried.")
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.webhook_test(tenant=self.tenant, webhook=self.get_object())
        return Response(s.WebhookDeliverySerializer(delivery).data)

    @extend_schema(request=s.RotateSecretSerializer, responses={200: s.WebhookWithSecretSerializer}, tags=TAGS,
                   description="A new secret signs from now on; the old one also signs for 24 hours "
                               "(two space-separated signatures), so receivers switch without downtime.")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        data = parse_body(s.RotateSecretSerializer, request)
        webhook, secret = services.webhook_secret_rotate(tenant=self.tenant, webhook=self.get_object(),
                                                         secret=data.get("secret"))
        return Response(s.WebhookWithSecretSerializer(webhook, context={"secret": secret}).data)

    @query_filters(DeliveryFilterSet)
    @extend_schema(parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int)], responses={200: DeliveryPageSerializer}, tags=TAGS, operation_id="webhooks_deliveries_list")
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        filters = DeliveryFilterSet.parse(request.query_params)
        queryset = selectors.delivery_list(tenant=self.tenant, webhook=self.get_object(), **filters)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)

    def _delivery(self, delivery_id) -> WebhookDelivery:
        delivery = selectors.delivery_list(tenant=self.tenant, webhook=self.get_object()).filter(
            pk=delivery_id).select_related("webhook").first()
        if delivery is None:
            raise NotFound()
        return delivery

    @extend_schema(responses={200: s.WebhookDeliverySerializer}, tags=TAGS, operation_id="webhooks_delivery_retrieve")
    @action(detail=True, methods=["get"], url_path=rf"deliveries/(?P<delivery_id>{UUID_PATTERN})")
    def delivery(self, request, pk=None, delivery_id=None):
        return Response(s.WebhookDeliverySerializer(self._delivery(delivery_id)).data)

    @error_responses(409)
    @extend_schema(request=None, responses={202: s.WebhookDeliverySerializer}, tags=TAGS,
                   description="Queues the delivery again — the same body and webhook-id — with a fresh retry "
                               "schedule. 409 WEBHOOK_DISABLED while the endpoint is off.")
    @action(detail=True, methods=["post"], url_path=rf"deliveries/(?P<delivery_id>{UUID_PATTERN})/redeliver")
    def redeliver(self, request, pk=None, delivery_id=None):
        delivery = services.delivery_redeliver(tenant=self.tenant, delivery=self._delivery(delivery_id))
        return Response(s.WebhookDeliverySerializer(self._delivery(delivery.pk)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: s.WebhookEventSerializer(many=True)}, parameters=PAGE_PARAMETERS, tags=TAGS)
    @action(detail=False, methods=["get"])
    def events(self, request):
        paginator = StratumPagination()  # every Stratum list is a page (the reference shows no other shape)
        page = paginator.paginate_queryset(selectors.webhook_events(), request, view=self)
        return paginator.get_paginated_response(page)
