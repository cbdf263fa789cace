"""Clients, their members and their ad accounts."""
from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Tenant, User
from campaigns.models import AdAccount
from stratum.api.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from stratum.api.files import files_delete
from stratum.api.updates import changes_apply, changes_pick

from ..access import CLIENT_CREATOR_ROLES, is_tenant_admin
from ..errors import AD_ACCOUNT_LINKED, ALREADY_MEMBER
from ..models import Alert, Client, ClientMembership, ClientRole, CreativeSubmission
from .alerts import alert_defaults_create, alert_schedules_enable


def _check_name(*, tenant: Tenant, name: str, exclude: uuid.UUID | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(errors={"name": ["This field may not be blank."]})
    taken = Client.objects.for_tenant(tenant).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationFailed(errors={"name": ["A client with this name already exists."]})
    return name


@transaction.atomic
def client_create(*, tenant: Tenant, actor: User, name: str, logo: str = "", is_active: bool = True) -> Client:
    """Tenant owners, admins and managers create clients; a manager becomes the new client's admin.
    Every new client gets the default alerts (DEFAULT_ALERT_TYPES)."""
    if actor.role not in CLIENT_CREATOR_ROLES:
        raise Forbidden("Only tenant owners, admins and managers may create clients.")
    name = _check_name(tenant=tenant, name=name)
    try:
        with transaction.atomic():
            client = Client.objects.for_tenant(tenant).create(tenant=tenant, name=name, logo=logo or "",
                                                              is_active=is_active)
    except IntegrityError:
        raise ValidationFailed(errors={"name": ["A client with this name already exists."]}) from None
    if not is_tenant_admin(actor):
        ClientMembership.objects.for_tenant(tenant).create(tenant=tenant, client=client, user=actor,
                                                           role=ClientRole.ADMIN)
    alert_defaults_create(tenant=tenant, client=client, created_by=actor)
    return client


@transaction.atomic
def client_update(*, tenant: Tenant, client: Client, data: dict[str, Any]) -> Client:
    fields = changes_apply(client, changes_pick(data, {
        "name": lambda name: _check_name(tenant=tenant, name=name, exclude=client.pk),
        "logo": lambda logo: logo or ""}))
    activity_changed = "is_active" in data and data["is_active"] != client.is_active
    if activity_changed:
        client.is_active = data["is_active"]
        fields.append("is_active")
    client.save(update_fields=[*fields, "updated_at"])
    if activity_changed:
        alert_schedules_enable(tenant=tenant, client=client)
    return client


@transaction.atomic
def client_delete(*, tenant: Tenant, actor: User, client: Client) -> None:
    """Tenant owners/admins only: removes the client with its tasks, alerts (and their schedules), leads and
    creatives (their stored files after the commit); its ad accounts stay, unassigned."""
    if not is_tenant_admin(actor):
        raise Forbidden("Only tenant owners and admins may delete a client.")
    from django_celery_beat.models import PeriodicTask

    schedule_ids = list(Alert.objects.for_tenant(tenant).filter(client=client, periodic_task__isnull=False)
                        .values_list("periodic_task_id", flat=True))
    files = [name for pair in CreativeSubmission.objects.for_tenant(tenant).filter(client=client)
             .values_list("media_file", "media_thumbnail") for name in pair if name]
    Client.objects.for_tenant(tenant).filter(pk=client.pk).delete()
    files_delete(names=files)
    PeriodicTask.objects.filter(pk__in=schedule_ids).delete()


def _tenant_user(*, tenant: Tenant, user_id) -> User:
    try:
        user_id = uuid.UUID(str(user_id))
    except ValueError:
        raise ValidationFailed(errors={"user_id": ["Not a valid user id."]}) from None
    user = User.objects.filter(tenant=tenant, pk=user_id, is_active=True).first()
    if user is None:
        raise ValidationFailed(errors={"user_id": ["No active user of this tenant with this id."]})
    return user


def _check_role(role: str) -> None:
    if role not in ClientRole.values:
        raise ValidationFailed(errors={"role": [f"Must be one of {', '.join(ClientRole.values)}."]})


@transaction.atomic
def client_member_add(*, tenant: Tenant, client: Client, user_id, role: str) -> ClientMembership:
    _check_role(role)
    user = _tenant_user(tenant=tenant, user_id=user_id)
    if ClientMembership.objects.for_tenant(tenant).filter(client=client, user=user).exists():
        raise Conflict("This user is already a member of the client.", code=ALREADY_MEMBER)
    return ClientMembership.objects.for_tenant(tenant).create(tenant=tenant, client=client, user=user, role=role)


def _membership(*, tenant: Tenant, client: Client, user_id) -> ClientMembership:
    membership = (ClientMembership.objects.for_tenant(tenant).select_related("user")
                  .filter(client=client, user_id=user_id).first())
    if membership is None:
        raise NotFound("This user is not a member of the client.")
    return membership


@transaction.atomic
def client_member_update(*, tenant: Tenant, client: Client, user_id, role: str) -> ClientMembership:
    _check_role(role)
    membership = _membership(tenant=tenant, client=client, user_id=user_id)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def client_member_remove(*, tenant: Tenant, client: Client, user_id) -> None:
    _membership(tenant=tenant, client=client, user_id=user_id).delete()


def client_ad_account_link(*, tenant: Tenant, client: Client, ad_account_id) -> Any:
    """Assigns one of the tenant's ad accounts to the client (reports and alerts then include it)."""
    try:
        ad_account_id = uuid.UUID(str(ad_account_id))
    except ValueError:
        raise ValidationFailed(errors={"ad_account_id": ["Not a valid id."]}) from None
    with transaction.atomic():
        account = AdAccount.objects.for_tenant(tenant).select_for_update().filter(pk=ad_account_id).first()
        if account is None:
            raise ValidationFailed(errors={"ad_account_id": ["No ad account of this tenant with this id."]})
        if account.client_id and account.client_id != client.pk:
            raise Conflict("This ad account belongs to another client; unlink it there first.",
                           code=AD_ACCOUNT_LINKED)
        account.client = client
        account.save(update_fields=["client", "updated_at"])
    return account


def client_ad_account_unlink(*, tenant: Tenant, client: Client, ad_account_id) -> None:
    updated = AdAccount.objects.for_tenant(tenant).filter(pk=ad_account_id, client=client).update(client=None)
    if not updated:
        raise NotFound("This ad account is not linked to the client.")
