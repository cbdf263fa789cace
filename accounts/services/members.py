"""Tenant members: profile, invitations, roles, deactivation. Every path that adds an active member counts
`max_users` under the tenant's lock (stratum.api.entitlements.limit_enforce_locked)."""
from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from stratum.api.entitlements import limit_enforce_locked
from stratum.api.exceptions import Conflict, Forbidden
from stratum.api.permissions import Role

from ..emails import MailKind
from ..errors import CANNOT_DEACTIVATE_SELF, LAST_OWNER, NO_PENDING_INVITATION, AlreadyMember
from ..models import ApiKey, OneTimeToken, Tenant, User
from ..validators import clean_phone
from .mailing import mail_queue
from .onetime import INVITE_TTL, one_time_token_issue, one_time_tokens_invalidate
from .registration import is_unverified_registration, registration_discard
from .sessions import sessions_revoke_all


def user_update_me(*, user: User, data: dict[str, Any]) -> User:
    fields = []
    if "name" in data:
        user.name = data["name"].strip()
        fields.append("name")
    if "phone" in data:
        user.phone = clean_phone(data["phone"])
        fields.append("phone")
    if "preferences" in data:
        merged = dict(user.preferences or {})
        merged.update(data["preferences"])
        user.preferences = merged
        fields.append("preferences")
    if fields:
        user.save(update_fields=fields + ["updated_at"])
    return user


def _active_members(tenant: Tenant):
    return User.objects.filter(tenant=tenant, is_active=True).count


def _elsewhere(*, tenant: Tenant, invited_by: User, holder: User, email: str, name: str, role: str) -> User:
    """The address belongs to an account in another workspace. The answer must not say so (no enumeration
    across tenants): it looks like any invitation, nothing is stored here, and the holder is told by e-mail."""
    mail_queue(MailKind.INVITATION_UNAVAILABLE, user_id=holder.pk, inviter_name=invited_by.name or invited_by.email,
               tenant_name=tenant.name)
    return User(id=uuid.uuid4(), email=email, name=name, role=role, tenant=tenant, is_active=True, is_verified=False,
                created_at=timezone.now())


@transaction.atomic
def user_invite(*, tenant: Tenant, invited_by: User, email: str, name: str = "", role: str) -> User:
    email, name = email.strip().lower(), name.strip()
    if role == Role.OWNER and invited_by.role != Role.OWNER:
        raise Forbidden("Only owners may invite owners.")
    limit_enforce_locked(tenant=tenant, limit="max_users", count=_active_members(tenant))  # the tenant lock first
    holder = User.objects.select_for_update().by_email(email).first()
    if holder is not None and holder.tenant_id == tenant.pk:
        raise AlreadyMember()
    if holder is not None and is_unverified_registration(holder):
        registration_discard(user=holder)  # an invitation wins over a registration nobody verified
        holder = None
    if holder is not None:
        return _elsewhere(tenant=tenant, invited_by=invited_by, holder=holder, email=email, name=name, role=role)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=None, name=name, tenant=tenant, role=role)
    except IntegrityError:  # another workspace invited (or someone registered) the address at this very moment
        holder = User.objects.by_email(email).first()
        if holder is None or holder.tenant_id == tenant.pk:
            raise AlreadyMember() from None
        return _elsewhere(tenant=tenant, invited_by=invited_by, holder=holder, email=email, name=name, role=role)
    raw = one_time_token_issue(user=user, purpose=OneTimeToken.Purpose.INVITE, ttl=INVITE_TTL)
    mail_queue(MailKind.INVITATION, user_id=user.pk, token=raw, inviter_id=invited_by.pk)
    return user


def invitation_pending(user: User) -> bool:
    """Invited and not yet in: active, never signed in, no password of their own (accepting the link sets one)."""
    return user.is_active and user.last_login is None and not user.has_usable_password()


@transaction.atomic
def invitation_resend(*, tenant: Tenant, user: User, invited_by: User) -> User:
    """A fresh invitation link (the earlier links stop working) mailed again to a member who never accepted."""
    if user.tenant_id != tenant.pk or not invitation_pending(user):
        raise Conflict("This member has no pending invitation.", NO_PENDING_INVITATION)
    one_time_tokens_invalidate(user=user)
    raw = one_time_token_issue(user=user, purpose=OneTimeToken.Purpose.INVITE, ttl=INVITE_TTL)
    mail_queue(MailKind.INVITATION, user_id=user.pk, token=raw, inviter_id=invited_by.pk)
    return user


def _owners_left_without(tenant: Tenant, user: User) -> int:
    return User.objects.filter(tenant=tenant, role=Role.OWNER, is_active=True).exclude(pk=user.pk).count()


@transaction.atomic
def user_update(*, tenant: Tenant, actor: User, user: User, data: dict[str, Any]) -> User:
    role = data.get("role")
    if role is not None and role != user.role:
        if Role.OWNER in (role, user.role) and actor.role != Role.OWNER:
            raise Forbidden("Only owners may grant or remove the owner role.")
        if user.role == Role.OWNER and _owners_left_without(tenant, user) == 0:
            raise Conflict("The last owner cannot be demoted.", LAST_OWNER)
        user.role = role
    if "is_active" in data and data["is_active"] is False and user.is_active:
        return user_deactivate(tenant=tenant, actor=actor, user=user)
    if "is_active" in data and data["is_active"] is True and not user.is_active:
        # Reactivation adds an active member: the same lock and count as an invitation.
        limit_enforce_locked(tenant=tenant, limit="max_users", count=_active_members(tenant))
        if User.objects.filter(pk=user.pk, is_active=False).exists():
            user.is_active = True
    if "name" in data:
        user.name = data["name"].strip()
    user.save()
    return user


@transaction.atomic
def user_deactivate(*, tenant: Tenant, actor: User, user: User) -> User:
    if user.pk == actor.pk:
        raise Conflict("You cannot deactivate yourself.", CANNOT_DEACTIVATE_SELF)
    if user.role == Role.OWNER:
        if actor.role != Role.OWNER:
            raise Forbidden("Only owners may remove an owner.")
        if _owners_left_without(tenant, user) == 0:
            raise Conflict("The last owner cannot be removed.", LAST_OWNER)
    user.is_active = False
    user.save(update_fields=["is_active", "updated_at"])
    sessions_revoke_all(user=user)
    ApiKey.objects.for_tenant(tenant).filter(created_by=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return user
