"""JWT sessions: issue, refresh (single-use under any concurrency), logout, revoke.

A login starts a `LoginSession`; its refresh tokens carry the session id (`sid`). Refreshing consumes the presented
token atomically — the first to blacklist it wins, every other use of it is a 401 — and, like logout, happens under
the session row's lock, so a logout racing a refresh leaves no live session (see `LoginSession`).
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from stratum.api.cache import cache
from stratum.api.exceptions import ValidationFailed

from ..errors import SessionInvalid, TenantSuspended
from ..models import LoginSession, User

SESSION_CLAIM = "sid"
REVOKED_JTI = "jwt-revoked:jti:"


def _access_lifetime() -> int:
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())


# Ending access tokens at once instead of at their expiry. The tokens this service issues carry their session's id
# (`sid`): ending the session (`LoginSession.revoked_at`) ends every access token of it, and authentication reads the
# session row in the same query as the user (accounts/principals.py). A token without a session (issued by hand)
# can only be ended by its own id: a cache denylist, kept as long as an access token lives.

def access_revoke(*, jti: str) -> None:
    """Ends one access token by its jti (the cache denylist; for tokens issued without a session)."""
    cache.set(f"{REVOKED_JTI}{jti}", 1, _access_lifetime() + 60)


def access_is_revoked(token) -> bool:
    """True for an access token without a session that logout ended (one cache round trip)."""
    return bool(cache.get(f"{REVOKED_JTI}{token.get('jti')}"))


def tokens_for_user(*, user: User, session: LoginSession | None = None) -> dict[str, Any]:
    """A token pair; a new session unless one is continued (refresh)."""
    if session is None:
        session = LoginSession.objects.create(user=user)
    refresh = RefreshToken.for_user(user)
    refresh["tenant_id"] = str(user.tenant_id) if user.tenant_id else None
    refresh[SESSION_CLAIM] = str(session.pk)
    access = refresh.access_token
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def _outstanding(token: RefreshToken) -> OutstandingToken:
    jti = token["jti"]
    outstanding = OutstandingToken.objects.filter(jti=jti).first()
    if outstanding is None:  # issued elsewhere with the same key: record it as simplejwt's blacklist() would
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=jti, defaults={"user_id": token.get("user_id"), "token": str(token),
                               "expires_at": timezone.now() + (token.lifetime or settings.SIMPLE_JWT[
                                   "REFRESH_TOKEN_LIFETIME"])})
    return outstanding


def _consume(token: RefreshToken) -> bool:
    """Blacklists the token; True only for the one caller that did it (the unique row decides the race)."""
    _, created = BlacklistedToken.objects.get_or_create(token=_outstanding(token))
    return created


def _session_locked(token: RefreshToken) -> LoginSession | None:
    sid = token.get(SESSION_CLAIM)
    if not sid:
        return None
    try:
        return LoginSession.objects.select_for_update().filter(pk=sid).first()
    except (ValueError, TypeError):
        return None


def tokens_refresh(*, refresh_token: str) -> dict[str, Any]:
    try:
        old = RefreshToken(refresh_token)
    except TokenError:
        raise SessionInvalid() from None
    with transaction.atomic():
        session = _session_locked(old)
        if old.get(SESSION_CLAIM) and (session is None or session.revoked_at is not None):
            raise SessionInvalid()
        user = User.objects.select_related("tenant").filter(pk=old.get("user_id")).first()
        if user is None or not user.is_active or (session is not None and session.user_id != user.pk):
            raise SessionInvalid()
        if user.tenant is not None and user.tenant.is_suspended:
            raise TenantSuspended()
        if not _consume(old):
            raise SessionInvalid()  # used already (a replay, or the loser of a parallel refresh)
        return tokens_for_user(user=user, session=session)


class _SessionToken(RefreshToken):
    """A refresh token read to name its session: signature, expiry and type are checked, the blacklist is not — a
    token a parallel refresh has just used still names the session to end (that race left sessions alive)."""

    def check_blacklist(self) -> None:
        return None


def user_logout(*, user: User, refresh_token: str | None, access_token=None) -> None:
    """Ends the session at once: its refresh token, and the access token the call came with (and every other access
    token of the same session), not only when they expire."""
    if access_token is not None:
        sid = access_token.get(SESSION_CLAIM)
        if sid:  # every access token of the session, this one included
            LoginSession.objects.filter(pk=sid, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        else:
            access_revoke(jti=access_token.get("jti"))
    if not refresh_token:
        return
    try:
        token = _SessionToken(refresh_token)
    except TokenError:
        raise ValidationFailed(errors={"refresh_token": ["Invalid or expired refresh token."]}) from None
    if str(token.get("user_id")) != str(user.pk):
        raise ValidationFailed(errors={"refresh_token": ["This refresh token does not belong to you."]})
    with transaction.atomic():
        session = _session_locked(token)
        if session is not None and session.revoked_at is None:
            session.revoked_at = timezone.now()
            session.save(update_fields=["revoked_at"])
        _consume(token)


def sessions_revoke_all(*, user: User) -> int:
    """Ends every session of the user (password change/reset, deactivation): sessions, refresh tokens and, at once,
    their access tokens."""
    LoginSession.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    outstanding = list(OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True))
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in outstanding],
                                         ignore_conflicts=True)
    return len(outstanding)
