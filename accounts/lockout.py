"""The login lock-out: one mechanism for the API and the staff console, as django-axes' handler (`AXES_HANDLER`).

Both log in through `django.contrib.auth.authenticate()`, whose first backend is axes': it asks this handler whether
the attempt may run. Counters are keyed on the canonical e-mail (`canonical_email`, the form the user lookup uses)
and on the real client address (`stratum.api.clientaddr.client_address`), kept in the shared cache for
`LOGIN_LOCKOUT_SECONDS` from the first failure.

An attempt *reserves* its place before the password is checked: one atomic increment per counter, and an attempt
that takes the account over `LOGIN_LOCKOUT_ATTEMPTS` (or the address over `LOGIN_LOCKOUT_IP_ATTEMPTS`) is refused
without a check. So a parallel burst gets exactly the configured number of password checks, never more. A failed
attempt keeps its place; a successful one clears the account's counter and hands its place on the address back.
"""
from __future__ import annotations

import hashlib
import logging

from axes.handlers.base import AbstractAxesHandler, AxesBaseHandler
from django.conf import settings
from django.http import HttpResponse

from stratum.api.cache import cache  # falls back to process memory while Redis is down
from stratum.api.clientaddr import client_address
from stratum.api.errors import RATE_LIMITED
from stratum.api.exceptions import error_response

from .identity import canonical_email

logger = logging.getLogger("stratum.lockout")


def client_username(request, credentials: dict | None) -> str:
    """`AXES_USERNAME_CALLABLE`: the canonical e-mail of the attempt (console form or API body)."""
    value = (credentials or {}).get("username") or (credentials or {}).get("email") or ""
    return canonical_email(value) if isinstance(value, str) else ""


def _keys(username: str | None, ip: str | None) -> list[tuple[str, int]]:
    keys = []
    if username is not None:
        digest = hashlib.sha256(username.encode()).hexdigest()[:32]
        keys.append((f"login-fail:e:{digest}", settings.LOGIN_LOCKOUT_ATTEMPTS))
    if ip is not None:
        keys.append((f"login-fail:ip:{ip}", settings.LOGIN_LOCKOUT_IP_ATTEMPTS))
    return keys


def _reserve(key: str) -> int:
    """Atomic add-one that starts the key's lifetime (the lock-out window) with its first failure."""
    cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, settings.LOGIN_LOCKOUT_SECONDS)
        return 1


def _give_back(key: str) -> None:
    try:
        if (cache.get(key) or 0) > 0:
            cache.decr(key)
    except ValueError:
        pass


class LockoutHandler(AbstractAxesHandler, AxesBaseHandler):
    """Reserve-then-check lock-out (see the module's text). Axes calls `is_allowed` before the password check."""

    def _request_keys(self, request, credentials) -> list[tuple[str, int]]:
        return _keys(client_username(request, credentials), client_address(request))

    def is_allowed(self, request, credentials: dict | None = None) -> bool:
        if getattr(request, "stratum_lockout_reserved", False):  # one reservation per request
            return not request.axes_locked_out
        request.stratum_lockout_reserved = True
        allowed = True
        for key, limit in self._request_keys(request, credentials):
            if _reserve(key) > limit:
                allowed = False
        if not allowed:
            request.axes_locked_out = True
            logger.warning("login locked out for %s from %s", client_username(request, credentials)[:3] + "…",
                           client_address(request))
        return allowed

    def get_failures(self, request, credentials: dict | None = None) -> int:
        return max((cache.get(key) or 0) for key, _ in self._request_keys(request, credentials))

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        return any((cache.get(key) or 0) >= limit for key, limit in self._request_keys(request, credentials))

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        """The failure was counted when the attempt reserved its place."""

    def user_logged_in(self, sender, request, user, **kwargs):
        if request is None:
            return
        keys = _keys(canonical_email(user.get_username()), client_address(request))
        cache.delete(keys[0][0])
        if getattr(request, "stratum_lockout_reserved", False):
            _give_back(keys[1][0])

    def user_logged_out(self, sender, request, user, **kwargs):
        pass

    def reset_attempts(self, *, ip_address: str | None = None, username: str | None = None,
                       ip_or_username: bool = False) -> int:
        """`manage.py axes_reset_ip` / `axes_reset_username` (staff unlocking someone)."""
        keys = _keys(canonical_email(username) if username else None, ip_address)
        for key, _ in keys:
            cache.delete(key)
        return len(keys)


def lockout_response(request, credentials=None, *args, **kwargs):
    """`AXES_LOCKOUT_CALLABLE`: the API's error format under /api/, a plain page in the console; 429 either way."""
    retry_after = str(settings.LOGIN_LOCKOUT_SECONDS)
    if request.path.startswith("/api/"):
        response = error_response(429, LOCKED_OUT_MESSAGE, RATE_LIMITED)
    else:
        response = HttpResponse(LOCKED_OUT_MESSAGE, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = retry_after
    return response


LOCKED_OUT_MESSAGE = "Too many failed login attempts. Try again later."
