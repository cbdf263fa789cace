"""Notifications of the signed-in user (list, read, mark all read, preferences per channel and category) and the
Slack destinations they are sent to."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.filters import query_filters
from stratum.api.permissions import ADMIN_ROLES, ROLES
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import notifications
from ..models import Notification
from . import channels
from . import serializers as s
from .filters import NotificationFilterSet

UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
TAGS = ["notifications"]


class NotificationViewSet(mixins.ListModelMixin, TenantGenericViewSet):
    """Every member manages their own notifications; another user's notification is a 404."""

    model = Notification
    serializer_class = s.NotificationSerializer
    scope_resource = "notifications"
    write_roles = ROLES
    lookup_value_regex = UUID_PATTERN

    def scoped_queryset(self):
        if self.action != "list":
            return notifications.notification_list(user=self.request.user)
        filters = NotificationFilterSet.parse(self.request.query_params)
        return notifications.notification_list(user=self.request.user, unread_only=bool(filters["unread_only"]),
                                               category=filters["category"])

    @query_filters(NotificationFilterSet)
    @extend_schema(tags=TAGS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: s.NotificationSerializer}, tags=TAGS)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = notifications.notification_mark_read(user=request.user, notification=self.get_object())
        return Response(s.NotificationSerializer(notification).data)

    @extend_schema(request=None, responses={200: s.MarkAllReadSerializer}, tags=TAGS)
    @action(detail=False, methods=["post"], url_path="mark-all-read")
    def mark_all_read(self, request):
        return Response({"updated": notifications.notification_mark_all_read(user=request.user)})

    @extend_schema(methods=["GET"], responses={200: s.NotificationPreferencesSerializer}, tags=TAGS)
    @extend_schema(methods=["PATCH"], request=s.NotificationPreferencesUpdateSerializer,
                   responses={200: s.NotificationPreferencesSerializer}, tags=TAGS,
                   description="Per channel (`email`, `slack`, `in_app`), category -> true/false. `all` resets "
                               "the channel first; null puts a setting back to its default. Unknown channels or "
                               "categories are a 422.")
    @action(detail=False, methods=["get", "patch"], pagination_class=None)
    def preferences(self, request):
        if request.method == "PATCH":
            return Response(notifications.notification_preferences_update(user=request.user, data=request.data))
        return Response(notifications.notification_preferences_get(user=request.user))


class SlackDestinationView(TenantAPIView):
    """The Slack incoming webhook that receives notifications: the user's own (`/notifications/slack`) or
    the tenant's shared channel (`/notifications/slack/tenant`, managed by owners and admins)."""

    verified_email_methods = ("PUT", "POST", "PATCH")  # reaches outside the tenant: needs a verified e-mail
    scope_resource = "notifications"
    tenant_wide = False

    @property
    def write_roles(self):
        return ADMIN_ROLES if self.tenant_wide else ROLES

    def _user(self, request):
        return None if self.tenant_wide else request.user

    @extend_schema(responses={200: s.SlackDestinationSerializer}, tags=["notifications"])
    def get(self, request):
        destination = channels.slack_destination_get(tenant=self.tenant, user=self._user(request))
        return Response(s.SlackDestinationSerializer(s.SlackDestinationSerializer.describe(destination)).data)

    @extend_schema(request=s.SlackDestinationSetSerializer, responses={200: s.SlackDestinationSerializer},
                   tags=["notifications"])
    def put(self, request):
        data = parse_body(s.SlackDestinationSetSerializer, request)
        destination = channels.slack_destination_set(tenant=self.tenant, user=self._user(request),
                                                     url=data["webhook_url"])
        return Response(s.SlackDestinationSerializer(s.SlackDestinationSerializer.describe(destination)).data)

    @extend_schema(responses={204: None}, tags=["notifications"])
    def delete(self, request):
        channels.slack_destination_delete(tenant=self.tenant, user=self._user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TenantSlackDestinationView(SlackDestinationView):
    tenant_wide = True
