"""Single-use e-mailed links (verify e-mail, reset password, accept invitation): only a hash is stored."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..errors import InvalidToken
from ..models import OneTimeToken, User

VERIFY_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=1)
INVITE_TTL = timedelta(days=7)


def one_time_token_issue(*, user: User, purpose: str, ttl: timedelta) -> str:
    raw = secrets.token_urlsafe(32)
    OneTimeToken.objects.create(user=user, purpose=purpose, token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                                expires_at=timezone.now() + ttl)
    return raw


def one_time_token_check(*, raw: str, purposes: tuple[str, ...]) -> OneTimeToken:
    """The link, if it would still work, without using it (the pages show a form only for a live link)."""
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        raise InvalidToken()
    token = (OneTimeToken.objects.select_related("user", "user__tenant")
             .filter(token_hash=hashlib.sha256(raw.encode()).hexdigest(), purpose__in=purposes).first())
    if token is None or token.used_at is not None or token.expires_at <= timezone.now():
        raise InvalidToken()
    return token


def one_time_token_consume(*, raw: str, purposes: tuple[str, ...]) -> OneTimeToken:
    """Marks the link used and returns it (locked: two clicks at once consume it once)."""
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        raise InvalidToken()
    digest = hashlib.sha256(raw.encode()).hexdigest()
    with transaction.atomic():
        token = (OneTimeToken.objects.select_for_update().select_related("user")
                 .filter(token_hash=digest, purpose__in=purposes).first())
        if token is None or token.used_at is not None or token.expires_at <= timezone.now():
            raise InvalidToken()
        token.used_at = timezone.now()
        token.save(update_fields=["used_at"])
    return token


def one_time_tokens_invalidate(*, user: User) -> int:
    """Every outstanding link of the user (reset, verification, invitation) stops working: called when the password
    changes, so no link mailed before can set it again or take the account over."""
    return OneTimeToken.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())
