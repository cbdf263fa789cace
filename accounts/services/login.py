"""Login: through `authenticate()`, so the API and the staff console share one lock-out (accounts.lockout)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in

from ..errors import InvalidCredentials, LoginLockedOut, TenantSuspended
from ..models import User
from .sessions import tokens_for_user


def user_login(*, request, email: str, password: str) -> tuple[User, dict[str, Any]]:
    """axes' backend asks accounts.lockout first (an atomic reservation per canonical e-mail and client address),
    then the password is checked; an unknown e-mail costs a hash too. `request` is the HTTP request (the lock-out
    reads the client's address from it)."""
    http_request = getattr(request, "_request", request)
    user = authenticate(http_request, username=email or "", password=password or "")
    if getattr(http_request, "axes_locked_out", False):
        raise LoginLockedOut(headers={"Retry-After": str(settings.LOGIN_LOCKOUT_SECONDS)})
    if user is None:
        raise InvalidCredentials()
    if user.tenant is not None and user.tenant.is_suspended:
        raise TenantSuspended()
    user_logged_in.send(sender=User, request=http_request, user=user)  # clears the lock-out, sets last_login
    return user, tokens_for_user(user=user)
