"""Passwords: forgot (no enumeration), reset by link, change. Setting a password ends every session and voids every
link mailed before (reset, verification, invitation)."""
from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from stratum.api.exceptions import ValidationFailed

from ..emails import MailKind
from ..models import OneTimeToken, User
from .mailing import mail_queue
from .onetime import RESET_TTL, one_time_token_consume, one_time_token_issue, one_time_tokens_invalidate
from .sessions import sessions_revoke_all

FORGOT_ANSWER = "If an account exists for this e-mail, a reset link has been sent."


def password_check(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(errors={"password": list(exc.messages)}) from exc


def _password_set(*, user: User, password: str, fields: list[str]) -> None:
    user.set_password(password)
    user.save(update_fields=["password", *fields, "updated_at"])
    one_time_tokens_invalidate(user=user)
    sessions_revoke_all(user=user)


@transaction.atomic
def password_forgot(*, email: str) -> None:
    """Always succeeds from the caller's view: no account enumeration (the mail leaves from a task)."""
    user = User.objects.by_email(email).filter(is_active=True).first()
    if user is None:
        return
    raw = one_time_token_issue(user=user, purpose=OneTimeToken.Purpose.RESET, ttl=RESET_TTL)
    mail_queue(MailKind.PASSWORD_RESET, user_id=user.pk, token=raw)


@transaction.atomic
def password_reset(*, token: str, new_password: str) -> User:
    """By a reset or invitation link. Opening a link mailed to the address proves the address: it is verified."""
    consumed = one_time_token_consume(raw=token, purposes=(OneTimeToken.Purpose.RESET, OneTimeToken.Purpose.INVITE))
    user = User.objects.select_for_update().get(pk=consumed.user_id)
    password_check(new_password, user)
    user.is_verified = True
    _password_set(user=user, password=new_password, fields=["is_verified"])
    return user


@transaction.atomic
def password_change(*, user: User, current_password: str, new_password: str) -> None:
    if not user.check_password(current_password or ""):
        raise ValidationFailed(errors={"current_password": ["The current password is wrong."]})
    password_check(new_password, user)
    _password_set(user=user, password=new_password, fields=[])
