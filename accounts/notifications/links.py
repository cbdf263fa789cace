"""Signed links in notification e-mails: one-click unsubscribe and the e-mail preferences page.

Both are `django.core.signing` tokens (HMAC with SECRET_KEY, a salt per purpose, so one kind never passes for the
other) naming the user by id; nothing is stored. An unsubscribe token is scoped to one user and one category and
can do one thing: turn that category's e-mails off — it does not expire, as mailbox providers expect a
List-Unsubscribe link to keep working. A preferences token lets its holder choose which e-mails that one user gets
(and nothing else: no notification, no account data) and lives `PREFERENCES_LINK_MAX_AGE`; every mail carries a
fresh one.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing

from ..models import NOTIFICATION_CATEGORIES, User

UNSUBSCRIBE_SALT = "stratum.notifications.unsubscribe"
PREFERENCES_SALT = "stratum.notifications.preferences"
PREFERENCES_LINK_MAX_AGE = timedelta(days=30)
MAX_TOKEN_LENGTH = 500


class LinkInvalid(Exception):
    """The token is tampered with, of another purpose, expired, or names a user or category that is gone."""


def unsubscribe_token(*, user: User, category: str) -> str:
    return signing.dumps({"u": str(user.pk), "c": category}, salt=UNSUBSCRIBE_SALT, compress=True)


def preferences_token(*, user: User) -> str:
    return signing.dumps({"u": str(user.pk)}, salt=PREFERENCES_SALT, compress=True)


def unsubscribe_url(*, user: User, category: str) -> str:
    return f"{settings.FRONTEND_URL}/unsubscribe?{urlencode({'token': unsubscribe_token(user=user, category=category)})}"


def preferences_url(*, user: User) -> str:
    return f"{settings.FRONTEND_URL}/settings/notifications?{urlencode({'token': preferences_token(user=user)})}"


def _user(payload) -> User:
    try:
        user_id = uuid.UUID(payload["u"])
    except (TypeError, KeyError, ValueError, AttributeError):
        raise LinkInvalid() from None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise LinkInvalid()
    return user


def _load(token, *, salt: str, max_age: timedelta | None = None):
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid()
    try:
        return signing.loads(token, salt=salt, max_age=max_age)
    except (signing.BadSignature, ValueError):  # SignatureExpired is a BadSignature; ValueError: a malformed payload
        raise LinkInvalid() from None


def unsubscribe_token_read(token) -> tuple[User, str]:
    """(user, category) of a genuine unsubscribe token; LinkInvalid otherwise."""
    payload = _load(token, salt=UNSUBSCRIBE_SALT)
    category = payload.get("c") if isinstance(payload, dict) else None
    if category not in NOTIFICATION_CATEGORIES:
        raise LinkInvalid()
    return _user(payload), category


def preferences_token_read(token) -> User:
    return _user(_load(token, salt=PREFERENCES_SALT, max_age=PREFERENCES_LINK_MAX_AGE))
