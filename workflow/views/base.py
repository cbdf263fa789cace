"""What every Catalyst view shares: the workflow API-key scope, client roles instead of tenant write roles,
the Catalyst envelope, and OpenAPI shapes of the envelope."""
from __future__ import annotations

from drf_spectacular.drainage import set_override
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from stratum.api.envelope import catalyst_response
from stratum.api.exceptions import Forbidden
from stratum.api.pagination import CatalystOffsetPagination, CatalystPagination
from stratum.api.params import parse_uuid
from stratum.api.permissions import ROLES
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from ..access import role_require
from ..models import ClientRole
from ..selectors.clients import client_get_visible


class FullListPagination(CatalystPagination):
    """Page style for lists the spec shows unpaginated (alert settings, comments): 100 per page by default."""

    default_limit = 100


class WorkflowViewMixin:
    scope_resource = "workflow"
    # Every tenant role may write here: the user's role on the client decides (workflow.access).
    write_roles = ROLES


class WorkflowViewSet(WorkflowViewMixin, TenantGenericViewSet):
    pagination_class = CatalystPagination

    def page_response(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        rows = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(rows)


class WorkflowAPIView(WorkflowViewMixin, TenantAPIView):
    pass


def work_client(view, data: dict, *, action: str):
    """The client of new work (tasks, creatives) from the body's or the query's `client_id`: a visible client
    where the caller is at least a member, or None for internal work (not for tenant viewers)."""
    request = view.request
    client_id = data.pop("client_id", None) or parse_uuid(request.query_params, "client_id")
    if client_id is None:
        if request.user.role == "viewer":
            raise Forbidden(f"Tenant viewers may not {action} without a client.")
        return None
    client = client_get_visible(tenant=view.tenant, user=request.user, client_id=client_id)
    role_require(client.role, ClientRole.MEMBER, action=action)
    return client


def envelope(name: str, data, *, status: int = 200) -> serializers.Serializer:
    """OpenAPI shape of `{status_code, message, data}` around `data` (a serializer or field)."""
    return inline_serializer(name=f"{name}Response", fields={
        "status_code": serializers.IntegerField(default=status), "message": serializers.CharField(), "data": data})


def page_envelope(name: str, list_key: str, item: type[serializers.Serializer], *, offset: bool = False):
    fields = {list_key: item(many=True), "total_items": serializers.IntegerField(), "limit": serializers.IntegerField()}
    if offset:
        fields["offset"] = serializers.IntegerField()
    else:
        fields |= {"total_pages": serializers.IntegerField(), "current_page": serializers.IntegerField()}
    page = envelope(name, inline_serializer(name=f"{name}Data", fields=fields))
    set_override(page, "many", False)  # the whole page, not a list of them: no list/paginator wrapping
    return page


def deleted_envelope(name: str):
    """A delete answers 200 with the envelope (not 204): keyed by status, so the schema says so."""
    return {200: envelope(name, inline_serializer(name=f"{name}Data", fields={"id": serializers.UUIDField()}))}


def ok(data, *, message: str = "Success", status: int = 200):
    return catalyst_response(data, message=message, status=status)


__all__ = ["CatalystOffsetPagination", "CatalystPagination", "FullListPagination", "WorkflowAPIView",
           "WorkflowViewSet", "deleted_envelope", "envelope", "ok", "page_envelope", "work_client"]
