"""Which clients a user sees, and with which role."""
from __future__ import annotations

import uuid

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Subquery, Value

from accounts.models import Tenant, User
from stratum.api.exceptions import NotFound
from stratum.api.permissions import ADMIN_ROLES

from ..access import is_tenant_admin
from ..models import Client, ClientMembership, ClientRole


def membership_role(*, tenant: Tenant, user: User, client_ref: str = "pk") -> Subquery:
    """The user's membership role on the client at `OuterRef(client_ref)` (NULL without a membership)."""
    return Subquery(ClientMembership.objects.for_tenant(tenant)
                    .filter(client_id=OuterRef(client_ref), user_id=user.pk).values("role")[:1],
                    output_field=CharField())


def clients_visible_to(*, tenant: Tenant, user: User) -> QuerySet[Client]:
    """The tenant's clients `user` may see, each annotated with `role` (admin, member or viewer)."""
    clients = Client.objects.for_tenant(tenant)
    if is_tenant_admin(user):
        return clients.annotate(role=Value(ClientRole.ADMIN, output_field=CharField()))
    return clients.annotate(role=membership_role(tenant=tenant, user=user)).filter(role__isnull=False)


def client_get_visible(*, tenant: Tenant, user: User, client_id) -> Client:
    """The client with its `role` for `user`; 404 when it does not exist, is another tenant's or is hidden."""
    try:
        client_id = uuid.UUID(str(client_id))
    except ValueError:
        raise NotFound("Client not found.") from None
    client = clients_visible_to(tenant=tenant, user=user).filter(pk=client_id).first()
    if client is None:
        raise NotFound("Client not found.")
    return client


def client_role(*, tenant: Tenant, user: User, client: Client | None) -> str | None:
    if client is None:
        return None
    if is_tenant_admin(user):
        return ClientRole.ADMIN
    return (ClientMembership.objects.for_tenant(tenant).filter(client=client, user_id=user.pk)
            .values_list("role", flat=True).first())


def client_users(*, tenant: Tenant, client: Client | None) -> QuerySet[User]:
    """Active users who can see `client` (tenant owners/admins and its members); every active tenant user
    for client-less work."""
    users = User.objects.filter(tenant=tenant, is_active=True)
    if client is None:
        return users
    member = ClientMembership.objects.for_tenant(tenant).filter(client=client, user_id=OuterRef("pk"))
    return users.filter(Q(role__in=ADMIN_ROLES) | Exists(member))


def client_admin_users(*, tenant: Tenant, client: Client | None) -> list[User]:
    """Who decides for a client: its explicit admins, or the tenant's owners/admins when it has none."""
    if client is not None:
        admins = list(User.objects.filter(
            tenant=tenant, is_active=True,
            client_memberships__client=client, client_memberships__role=ClientRole.ADMIN).order_by("created_at"))
        if admins:
            return admins
    return list(User.objects.filter(tenant=tenant, is_active=True, role__in=ADMIN_ROLES).order_by("created_at"))


def client_members(*, tenant: Tenant, client: Client) -> QuerySet[ClientMembership]:
    return (ClientMembership.objects.for_tenant(tenant).filter(client=client).select_related("user")
            .order_by("created_at"))


def client_member_ids(*, tenant: Tenant, client_id) -> QuerySet:
    """The ids of the users with a membership of the client (the notifications' recipients of its news)."""
    return ClientMembership.objects.for_tenant(tenant).filter(client_id=client_id).values_list("user_id", flat=True)
