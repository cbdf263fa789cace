"""Sign-up and e-mail verification, without enumeration and without squatting.

- `user_register` answers the same whether the address is new or taken: a new one gets a workspace, an unverified
  owner account and a verification link; a taken one gets nothing but an e-mail to its owner saying someone tried
  (with a link to set a password, which also proves the address). Both mails leave from a task after commit.
- A registration left unverified expires after `REGISTRATION_TTL` (the verification link's life): then the address
  is free again, for a new registration or an invitation. An invitation wins over an unverified registration at
  once (`registration_discard`). Opening a reset or invitation link verifies the address, so its real owner can
  always take an unverified registration of it over.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from stratum.api.permissions import Role

from ..emails import MailKind
from ..models import OneTimeToken, Tenant, User
from ..validators import clean_phone
from .mailing import mail_queue
from .onetime import RESET_TTL, VERIFY_TTL, one_time_token_consume, one_time_token_issue
from .passwords import password_check
from .tenants import tenant_create

REGISTRATION_TTL = VERIFY_TTL
RESEND_ANSWER = "If this address has an unverified account, a new verification link is on its way."


def is_unverified_registration(user: User) -> bool:
    """A self-registration nobody has verified: an unverified owner alone in its workspace."""
    return (not user.is_verified and user.role == Role.OWNER and user.tenant_id is not None
            and not User.objects.filter(tenant_id=user.tenant_id).exclude(pk=user.pk).exists())


def registration_discard(*, user: User) -> None:
    """Removes an unverified registration and its workspace (it could reach nothing outside the tenant)."""
    Tenant.objects.filter(pk=user.tenant_id).delete()


def _expired(user: User) -> bool:
    return user.created_at < timezone.now() - REGISTRATION_TTL and is_unverified_registration(user)


def user_register(*, email: str, password: str, name: str = "", phone: str = "", company: str = "") -> None:
    email = email.strip().lower()
    name = name.strip()
    password_check(password, User(email=email, name=name))
    phone = clean_phone(phone)
    tenant_name = (company or "").strip() or (f"{name}'s workspace" if name else email.split("@")[0])
    with transaction.atomic():
        existing = User.objects.select_for_update().by_email(email).first()
        if existing is not None and _expired(existing):
            registration_discard(user=existing)
            existing = None
        if existing is None:
            try:
                with transaction.atomic():
                    tenant = tenant_create(name=tenant_name)
                    user = User.objects.create_user(email=email, password=password, name=name, phone=phone,
                                                    tenant=tenant, role=Role.OWNER)
            except IntegrityError:  # a parallel registration of the same address came first
                existing = User.objects.by_email(email).first()
            else:
                raw = one_time_token_issue(user=user, purpose=OneTimeToken.Purpose.VERIFY, ttl=VERIFY_TTL)
                mail_queue(MailKind.VERIFICATION, user_id=user.pk, token=raw)
                return
        if existing is not None and existing.is_active:
            raw = one_time_token_issue(user=existing, purpose=OneTimeToken.Purpose.RESET, ttl=RESET_TTL)
            mail_queue(MailKind.REGISTRATION_ATTEMPT, user_id=existing.pk, token=raw)


def email_verify(*, token: str) -> User:
    consumed = one_time_token_consume(raw=token, purposes=(OneTimeToken.Purpose.VERIFY,))
    user = consumed.user
    user.is_verified = True
    user.save(update_fields=["is_verified", "updated_at"])
    return user


@transaction.atomic
def verification_resend(*, email: str) -> None:
    """A fresh verification link for an unverified account; silent for any other address (no enumeration)."""
    user = User.objects.by_email(email).filter(is_active=True, is_verified=False).first()
    if user is None or _expired(user) or user.has_usable_password() is False:
        return  # invited users verify by accepting their invitation
    OneTimeToken.objects.filter(user=user, purpose=OneTimeToken.Purpose.VERIFY, used_at__isnull=True).update(
        used_at=timezone.now())
    raw = one_time_token_issue(user=user, purpose=OneTimeToken.Purpose.VERIFY, ttl=VERIFY_TTL)
    mail_queue(MailKind.VERIFICATION, user_id=user.pk, token=raw)


def registrations_expired_purge() -> int:
    """The daily sweep: every registration unverified for longer than REGISTRATION_TTL is removed."""
    cutoff = timezone.now() - REGISTRATION_TTL
    removed = 0
    for user in User.objects.filter(is_verified=False, role=Role.OWNER, created_at__lt=cutoff).iterator():
        with transaction.atomic():
            locked = User.objects.select_for_update().filter(pk=user.pk).first()
            if locked is not None and _expired(locked):
                registration_discard(user=locked)
                removed += 1
    return removed
