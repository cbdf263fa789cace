"""Alert definitions (`settings`), the catalogue, triggering, and alert instances."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action

from stratum.api.exceptions import NotFound, ValidationFailed
from stratum.api.filters import query_filters
from stratum.api.params import parse_uuid
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body

from ..access import role_require
from ..alert_catalog import ALERT_TYPE_DEFS
from ..filters import AlertFilterSet, InstanceFilterSet, alert_filters_parse, instance_filters_parse
from ..models import Alert, AlertInstance, ClientRole
from ..selectors.clients import client_get_visible
from ..selectors.objects import alerts_filter, alerts_visible_to, instances_filter, instances_visible_to
from ..serializers import alerts as s
from ..services import alert_runs
from ..services import alerts as services
from .base import (
    CatalystOffsetPagination,
    FullListPagination,
    WorkflowViewSet,
    deleted_envelope,
    envelope,
    ok,
    page_envelope,
)

TAGS = ["catalyst: alerts"]
CLIENT_PARAM = OpenApiParameter("client_id", str, required=False,
                                description="The alert's client; another client's alert is a 404.")


class AlertViewSet(WorkflowViewSet):
    """Viewers and members read alerts; client admins create, change, delete and trigger them."""

    model = Alert
    lookup_url_kwarg = "alert_id"
    serializer_class = s.AlertSerializer
    catalyst_list_key = "settings"
    pagination_class = FullListPagination

    def scoped_queryset(self):
        return alerts_visible_to(tenant=self.tenant, user=self.request.user)

    def _alert(self, *, minimum: str | None = None, action: str = "") -> Alert:
        alert = self.get_object()
        client_id = parse_uuid(self.request.query_params, "client_id")
        if client_id is not None and client_id != alert.client_id:
            raise NotFound("Not found.")
        if minimum:
            role_require(alert.my_role, minimum, action=action)
        return alert

    @query_filters(AlertFilterSet)
    @extend_schema(responses=page_envelope("AlertList", "settings", s.AlertSerializer), tags=TAGS)
    def list(self, request):
        filters = alert_filters_parse(request.query_params)
        alerts = alerts_filter(tenant=self.tenant, user=request.user, alerts=self.get_queryset(), filters=filters)
        return self.page_response(alerts, s.AlertSerializer)

    @extend_schema(request=s.AlertCreateSerializer,
                   parameters=[OpenApiParameter("client_id", str, required=True)],
                   responses={201: envelope("AlertCreated", s.AlertSerializer())}, tags=TAGS)
    def create(self, request):
        client_id = parse_uuid(request.query_params, "client_id")
        if client_id is None:
            raise ValidationFailed(errors={"client_id": ["This query parameter is required."]})
        client = client_get_visible(tenant=self.tenant, user=request.user, client_id=client_id)
        role_require(client.role, ClientRole.ADMIN, action="manage alerts")
        data = parse_body(s.AlertCreateSerializer, request)
        alert = services.alert_create(tenant=self.tenant, client=client, created_by=request.user, **data)
        return ok(s.AlertSerializer(alert).data, message="Alert created", status=201)

    @extend_schema(parameters=[CLIENT_PARAM], responses=envelope("AlertDetail", s.AlertSerializer()), tags=TAGS)
    def retrieve(self, request, alert_id=None):
        return ok(s.AlertSerializer(self._alert()).data)

    @extend_schema(parameters=[CLIENT_PARAM], request=s.AlertWriteSerializer,
                   responses=envelope("AlertUpdated", s.AlertSerializer()), tags=TAGS)
    def update(self, request, alert_id=None):
        """PUT and PATCH both change only the fields given (the spec's PUT sends some fields)."""
        alert = self._alert(minimum=ClientRole.ADMIN, action="manage alerts")
        alert = services.alert_update(tenant=self.tenant, alert=alert, data=parse_body(s.AlertWriteSerializer, request))
        return ok(s.AlertSerializer(alert).data, message="Alert updated")

    @extend_schema(parameters=[CLIENT_PARAM], request=s.AlertWriteSerializer,
                   responses=envelope("AlertPatched", s.AlertSerializer()), tags=TAGS)
    def partial_update(self, request, alert_id=None):
        return self.update(request, alert_id=alert_id)

    @extend_schema(parameters=[CLIENT_PARAM], responses=deleted_envelope("AlertDeleted"), tags=TAGS)
    def destroy(self, request, alert_id=None):
        alert = self._alert(minimum=ClientRole.ADMIN, action="manage alerts")
        services.alert_delete(tenant=self.tenant, alert=alert)
        return ok({"id": str(alert.pk)}, message="Alert deleted")

    @extend_schema(parameters=[CLIENT_PARAM], request=None,
                   responses=envelope("AlertTriggered", s.AlertTriggerSerializer()), tags=TAGS)
    @action(detail=True, methods=["post"])
    def trigger(self, request, alert_id=None):
        """Runs the alert now; new findings become instances (and tasks), recovered ones resolve."""
        alert = self._alert(minimum=ClientRole.ADMIN, action="trigger alerts")
        result = alert_runs.alert_run(tenant=self.tenant, alert=alert)
        return ok({"alert_name": alert.name, "instances_created": result.instances_created,
                   "instances_updated": result.instances_updated, "instances_resolved": result.instances_resolved,
                   "message": "Alert triggered successfully"})

    @extend_schema(responses=envelope("AlertTypes", s.AlertTypeSerializer(many=True)), tags=TAGS)
    @action(detail=False, methods=["get"])
    def types(self, request):
        """The alert catalogue: types, their data sources and default conditions."""
        return ok(s.AlertTypeSerializer(ALERT_TYPE_DEFS.values(), many=True).data)


class AlertInstanceViewSet(WorkflowViewSet):
    """`/alerts/instances`: findings of alerts; members and admins resolve or dismiss them."""

    model = AlertInstance
    lookup_url_kwarg = "instance_id"
    serializer_class = s.InstanceSerializer
    catalyst_list_key = "instances"
    pagination_class = CatalystOffsetPagination

    def scoped_queryset(self):
        return instances_visible_to(tenant=self.tenant, user=self.request.user)

    @query_filters(InstanceFilterSet)
    @extend_schema(responses=page_envelope("AlertInstanceList", "instances", s.InstanceSerializer, offset=True),
                   tags=TAGS)
    def list(self, request):
        filters = instance_filters_parse(request.query_params)
        instances = instances_filter(tenant=self.tenant, user=request.user, instances=self.get_queryset(),
                                     filters=filters)
        return self.page_response(instances, s.InstanceSerializer)

    @extend_schema(responses=envelope("AlertInstanceDetail", s.InstanceSerializer()), tags=TAGS)
    def retrieve(self, request, instance_id=None):
        return ok(s.InstanceSerializer(self.get_object()).data)

    def _instance(self) -> AlertInstance:
        instance = self.get_object()
        role_require(instance.my_role, ClientRole.MEMBER, action="work alert instances")
        return instance

    @error_responses(409)
    @extend_schema(request=s.InstanceCloseSerializer, responses=envelope("AlertInstanceResolved",
                                                                         s.InstanceSerializer()), tags=TAGS)
    @action(detail=True, methods=["put"])
    def resolve(self, request, instance_id=None):
        """Resolves the instance with notes and completes its task; a closed instance is a 409."""
        instance = self._instance()
        data = parse_body(s.InstanceCloseSerializer, request)
        alert_runs.instance_resolve(tenant=self.tenant, instance=instance, actor=request.user,
                                    notes=data.get("resolution_notes", ""))
        return ok(s.InstanceSerializer(self.get_object()).data, message="Alert instance resolved")

    @error_responses(409)
    @extend_schema(request=s.InstanceCloseSerializer, responses=envelope("AlertInstanceDismissed",
                                                                         s.InstanceSerializer()), tags=TAGS)
    @action(detail=True, methods=["put"])
    def dismiss(self, request, instance_id=None):
        """Dismisses the instance and cancels its task; the object does not trigger again that day."""
        instance = self._instance()
        data = parse_body(s.InstanceCloseSerializer, request)
        alert_runs.instance_dismiss(tenant=self.tenant, instance=instance, actor=request.user,
                                    notes=data.get("resolution_notes", ""))
        return ok(s.InstanceSerializer(self.get_object()).data, message="Alert instance dismissed")
