"""Clients, the caller's role on them, their members and their ad accounts."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from stratum.api.filters import query_filters
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body

from ..access import role_require
from ..filters import ClientFilterSet, client_filters_parse
from ..models import Client, ClientRole
from ..selectors.clients import client_get_visible, client_members, clients_visible_to
from ..serializers import clients as s
from ..services import clients as services
from .base import WorkflowViewSet, deleted_envelope, envelope, ok, page_envelope

TAGS = ["catalyst: clients"]


def _account_row(account) -> dict:
    return s.AdAccountSerializer(account).data


class ClientViewSet(WorkflowViewSet):
    """A client is visible with a membership (admin, member, viewer) or to tenant owners/admins (as admin)."""

    model = Client
    lookup_url_kwarg = "client_id"
    serializer_class = s.ClientSerializer
    catalyst_list_key = "clients"

    def scoped_queryset(self):
        return clients_visible_to(tenant=self.tenant, user=self.request.user)

    def _client(self, *, minimum: str | None = None, action: str = "") -> Client:
        client = self.get_object()
        if minimum:
            role_require(client.role, minimum, action=action)
        return client

    @query_filters(ClientFilterSet)
    @extend_schema(responses=page_envelope("ClientList", "clients", s.ClientSerializer), tags=TAGS)
    def list(self, request):
        filters = client_filters_parse(request.query_params, tz=self.tenant.timezone)
        clients = filters.created.apply(self.get_queryset())
        if filters.is_active is not None:
            clients = clients.filter(is_active=filters.is_active)
        prefix = "-" if filters.order == "desc" else ""
        return self.page_response(clients.order_by(f"{prefix}{filters.sort}", "id"), s.ClientSerializer)

    @extend_schema(request=s.ClientCreateSerializer, responses={201: envelope("ClientCreated", s.ClientSerializer())},
                   tags=TAGS)
    def create(self, request):
        data = parse_body(s.ClientCreateSerializer, request)
        client = services.client_create(tenant=self.tenant, actor=request.user, **data)
        client = client_get_visible(tenant=self.tenant, user=request.user, client_id=client.pk)
        return ok(s.ClientSerializer(client).data, message="Client created", status=201)

    @extend_schema(responses=envelope("ClientDetail", s.ClientSerializer()), tags=TAGS)
    def retrieve(self, request, client_id=None):
        return ok(s.ClientSerializer(self.get_object()).data)

    @extend_schema(request=s.ClientUpdateSerializer, responses=envelope("ClientUpdated", s.ClientSerializer()),
                   tags=TAGS)
    def partial_update(self, request, client_id=None):
        client = self._client(minimum=ClientRole.ADMIN, action="change the client")
        services.client_update(tenant=self.tenant, client=client, data=parse_body(s.ClientUpdateSerializer, request))
        return ok(s.ClientSerializer(self.get_object()).data, message="Client updated")

    @extend_schema(responses=deleted_envelope("ClientDeleted"), tags=TAGS)
    def destroy(self, request, client_id=None):
        client = self.get_object()
        services.client_delete(tenant=self.tenant, actor=request.user, client=client)
        return ok({"id": str(client.pk)}, message="Client deleted")

    @extend_schema(responses=envelope("ClientRole", s.ClientRoleSerializer()), tags=TAGS)
    @action(detail=True, methods=["get"], url_path="role")
    def role(self, request, client_id=None):
        return ok({"role": self.get_object().role})

    @error_responses(409)
    @extend_schema(methods=["GET"], responses=page_envelope("ClientMemberList", "members", s.MemberSerializer),
                   tags=TAGS)
    @extend_schema(methods=["POST"], request=s.MemberCreateSerializer,
                   responses={201: envelope("ClientMemberAdded", s.MemberSerializer())}, tags=TAGS)
    @action(detail=True, methods=["get", "post"], url_path="members")
    def members(self, request, client_id=None):
        """Members read the member list; client admins add members (users of the tenant)."""
        if request.method == "GET":
            client = self._client()
            self.catalyst_list_key = "members"
            return self.page_response(client_members(tenant=self.tenant, client=client), s.MemberSerializer)
        client = self._client(minimum=ClientRole.ADMIN, action="manage the client's members")
        membership = services.client_member_add(tenant=self.tenant, client=client,
                                                **parse_body(s.MemberCreateSerializer, request))
        return ok(s.MemberSerializer(membership).data, message="Member added", status=201)

    @extend_schema(methods=["PATCH"], request=s.MemberUpdateSerializer,
                   responses=envelope("ClientMemberUpdated", s.MemberSerializer()), tags=TAGS)
    @extend_schema(methods=["DELETE"], responses=deleted_envelope("ClientMemberRemoved"), tags=TAGS)
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<user_id>[0-9a-fA-F-]{36})")
    def member(self, request, client_id=None, user_id=None):
        client = self._client(minimum=ClientRole.ADMIN, action="manage the client's members")
        if request.method == "DELETE":
            services.client_member_remove(tenant=self.tenant, client=client, user_id=user_id)
            return ok({"id": user_id}, message="Member removed")
        membership = services.client_member_update(tenant=self.tenant, client=client, user_id=user_id,
                                                   **parse_body(s.MemberUpdateSerializer, request))
        return ok(s.MemberSerializer(membership).data, message="Member updated")

    @error_responses(409)
    @extend_schema(methods=["GET"], responses=envelope("ClientAdAccounts", s.AdAccountSerializer(many=True)),
                   tags=TAGS)
    @extend_schema(methods=["POST"], request=s.AdAccountLinkSerializer,
                   responses={201: envelope("ClientAdAccountLinked", s.AdAccountSerializer())}, tags=TAGS)
    @action(detail=True, methods=["get", "post"], url_path="ad-accounts")
    def ad_accounts(self, request, client_id=None):
        """The client's ad accounts (their metrics feed the client's reports and alerts); admins link more."""
        if request.method == "GET":
            client = self._client()
            return ok([_account_row(a) for a in client.ad_accounts.order_by("platform", "name")])
        client = self._client(minimum=ClientRole.ADMIN, action="link ad accounts")
        account = services.client_ad_account_link(tenant=self.tenant, client=client,
                                                  **parse_body(s.AdAccountLinkSerializer, request))
        return ok(_account_row(account), message="Ad account linked", status=201)

    @extend_schema(responses=deleted_envelope("ClientAdAccountUnlinked"), tags=TAGS)
    @action(detail=True, methods=["delete"], url_path=r"ad-accounts/(?P<ad_account_id>[0-9a-fA-F-]{36})")
    def ad_account(self, request, client_id=None, ad_account_id=None):
        client = self._client(minimum=ClientRole.ADMIN, action="unlink ad accounts")
        services.client_ad_account_unlink(tenant=self.tenant, client=client, ad_account_id=ad_account_id)
        return ok({"id": ad_account_id}, message="Ad account unlinked")
