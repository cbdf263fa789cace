"""Authentication: API keys (`Bearer sk_live_…` or `X-API-Key`) and JWT access tokens.

Both set `request.tenant` from the principal. A suspended tenant's users and keys get 403
TENANT_SUSPENDED; a deactivated user's tokens and keys stop working.
"""
from __future__ import annotations

import time
import uuid

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from .errors import TenantSuspended
from .models import ApiKey, hash_api_key
from .principals import api_key_principal_get, user_principal_get
from .services.sessions import SESSION_CLAIM, access_is_revoked

API_KEY_PREFIX = "sk_live_"


def _attach_tenant(request, tenant) -> None:
    if tenant is not None and tenant.is_suspended:
        raise TenantSuspended()
    request.tenant = tenant
    request._request.tenant = tenant


def _raw_api_key(request) -> str | None:
    header = request.META.get("HTTP_X_API_KEY")
    if header:
        return header.strip()
    auth = get_authorization_header(request).split()
    if len(auth) == 2 and auth[0].lower() == b"bearer" and auth[1].startswith(API_KEY_PREFIX.encode()):
        return auth[1].decode(errors="replace")
    return None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = _raw_api_key(request)
        if raw is None:
            return None
        if not raw.startswith(API_KEY_PREFIX):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        key = api_key_principal_get(key_hash=hash_api_key(raw))  # key, creator and tenant: one query
        if key is None or not key.is_usable or not key.created_by.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        _attach_tenant(request, key.tenant)
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.unscoped().filter(pk=key.pk).update(last_used_at=now)
        return key.created_by, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


# Access tokens already verified by this process (signature, type, jti), by their encoded form, with the Unix time
# from which they count as expired. Verifying is a pure function of the token's bytes and the signing key, but
# PyJWT's takes ~0.3 ms (it re-validates the key and every base64 character on each call) while a client sends the
# same token for up to 30 minutes. A token found here is only checked for expiry again (simplejwt's rule: expired once
# `exp <= now - leeway`; past it the full check runs and answers as it always did); everything that can change — the
# user, their tenant, the session (logout, password change) — is still read on every request. Bounded; per process.
_VERIFIED: dict[bytes, tuple[object, float]] = {}
VERIFIED_TOKENS_MAX = 4096


class TenantJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        _attach_tenant(request, user.tenant)
        return user, token

    def get_validated_token(self, raw_token):
        known = _VERIFIED.get(raw_token)
        if known is not None:
            if time.time() < known[1]:
                return known[0]
            _VERIFIED.pop(raw_token, None)  # expired since: the full check below answers as it always did
        token = super().get_validated_token(raw_token)
        expires = token["exp"] + token.get_token_backend().get_leeway().total_seconds()
        if len(_VERIFIED) >= VERIFIED_TOKENS_MAX:
            _VERIFIED.clear()
        _VERIFIED[raw_token] = (token, expires)
        return token

    def get_user(self, validated_token):
        """The user and their tenant in one query (simplejwt's lookup, then `user.tenant`, took two), which also
        tells whether the token's session has ended (logout, password change: `LoginSession.revoked_at`)."""
        try:
            user_id = uuid.UUID(str(validated_token[api_settings.USER_ID_CLAIM]))
        except (KeyError, ValueError):  # a user_id claim that is not a UUID is an invalid token, not bad input
            raise exceptions.AuthenticationFailed("Token contained no recognizable user identification.") from None
        try:
            session_id = uuid.UUID(str(validated_token[SESSION_CLAIM]))
        except (KeyError, ValueError):  # a token issued without a session: its own jti is all that can be revoked
            session_id = None
        user, session_ended = user_principal_get(user_id=user_id, session_id=session_id)
        if user is None:
            raise exceptions.AuthenticationFailed("User not found", code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive", code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
                api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise exceptions.AuthenticationFailed("The user's password has been changed.", code="password_changed")
        if session_ended or (session_id is None and access_is_revoked(validated_token)):
            raise exceptions.AuthenticationFailed("This session has ended (logged out or password changed).")
        return user
