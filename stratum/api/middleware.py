"""Cross-cutting HTTP behaviour for /api/ and /health: body ceiling, JSON errors, rate-limit headers."""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import InterfaceError, OperationalError
from django.middleware.csrf import CsrfViewMiddleware
from django_otp.middleware import OTPMiddleware
from kombu.exceptions import OperationalError as BrokerUnavailable

from stratum.celery import serving_request

from . import metrics
from .clientaddr import client_address
from .db import RETRY_AFTER_SECONDS, busy_reason
from .errors import (
    DATABASE_BUSY,
    INTERNAL_ERROR,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    SERVICE_UNAVAILABLE,
    VALIDATION_ERROR,
)
from .exceptions import error_response
from .parsers import body_limit_for
from .ratelimit import take_token
from .tenancy import all_tenants_scope

logger = logging.getLogger("stratum.api")


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/health" or path.startswith("/health/")


class BrowserOnly:
    """Middleware that only browser pages need (admin, staff console, the pages e-mails link to): the session, its
    login and 2FA, CSRF cookies and flash messages. The API and /health authenticate each request by its token
    (no session authentication is configured, and DRF views are CSRF-exempt), so there these layers only cost time
    on every request: bypassed there, they still run — unchanged — for everything else. Subclasses keep Django's
    classes, so the admin's checks still find them in MIDDLEWARE."""

    def __call__(self, request):
        if is_api_path(request.path):
            return self.get_response(request)
        return super().__call__(request)


class BrowserSessionMiddleware(BrowserOnly, SessionMiddleware):
    pass


class BrowserCsrfViewMiddleware(BrowserOnly, CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if is_api_path(request.path):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class BrowserAuthenticationMiddleware(BrowserOnly, AuthenticationMiddleware):
    pass


class BrowserOTPMiddleware(BrowserOnly, OTPMiddleware):
    pass


class BrowserMessageMiddleware(BrowserOnly, MessageMiddleware):
    pass


def browser_csrf_check(app_configs=None, **kwargs) -> list:
    """Django's deploy checks look for its CSRF middleware by its dotted name (security.W003, silenced in settings),
    and only then check the CSRF cookie; ours is its subclass, so this check stands in for both."""
    from django.conf import settings
    from django.core.checks import Warning
    from django.utils.module_loading import import_string

    if not any(issubclass(import_string(path), CsrfViewMiddleware) for path in settings.MIDDLEWARE
               if isinstance(import_string(path), type)):
        return [Warning("No CSRF middleware (django.middleware.csrf.CsrfViewMiddleware or a subclass) is in MIDDLEWARE.",
                        id="stratum.W003")]
    if not settings.CSRF_USE_SESSIONS and not settings.CSRF_COOKIE_SECURE:
        return [Warning("CSRF_COOKIE_SECURE is not True: the CSRF cookie can travel over plain HTTP.", id="stratum.W016")]
    return []


class ApiBodySizeMiddleware:
    """Refuse a declared oversize body before anything reads it (413), and query parameters holding a NUL
    character (422: PostgreSQL text cannot store one, so the query would fail with a 500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not is_api_path(request.path):
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "Invalid Content-Length header.")
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        limit = body_limit_for(view_class)
        if length > limit:
            return error_response(413, f"Request body exceeds {limit} bytes.", PAYLOAD_TOO_LARGE)
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                label = name.replace("\x00", "\\x00")[:60]
                return error_response(422, f"{label}: NUL characters are not allowed.", VALIDATION_ERROR,
                                      errors={label: ["NUL characters are not allowed."]})
        return None


class ApiResponseMiddleware:
    """Adds X-RateLimit-* headers and turns unhandled errors under /api/ into the error format."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = serving_request.set(True)  # a task queued while the broker is down runs here (stratum/celery.py)
        try:
            response = self.get_response(request)
        finally:
            serving_request.reset(token)
        if not is_api_path(request.path) or request.path.startswith("/health") or request.path == "/api/v1/health":
            return response
        state = getattr(request, "_ratelimit_state", None)
        if state is None and settings.RATELIMIT_ENABLED and not getattr(request, "_ratelimit_exempt", False):
            # Answered before the throttle ran (401, 404 route, 413...): count it against the caller's IP.
            state = take_token(f"ip:{client_address(request)}", *settings.RATELIMIT_ANONYMOUS)
            if not state.allowed:
                metrics.RATE_LIMIT_REFUSALS.labels(limit="anonymous").inc()
                response = error_response(429, f"Rate limit exceeded. Retry in {state.retry_after} seconds.",
                                          RATE_LIMITED)
                response["Retry-After"] = str(state.retry_after)
        if state is not None:
            response["X-RateLimit-Limit"] = str(state.limit)
            response["X-RateLimit-Remaining"] = str(state.remaining)
            response["X-RateLimit-Reset"] = str(state.reset)
            response["RateLimit-Policy"] = state.policy_header
            response["RateLimit"] = state.header(time.time())
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        if (reason := busy_reason(exception)) is not None:
            # A lock wait that timed out or a conflict still failing after the server's retries: the database is
            # up, these records are busy. Say so, and when to come back.
            logger.warning("database busy on %s %s: %s", request.method, request.path, exception)
            response = error_response(503, reason, DATABASE_BUSY)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.error("database unavailable: %s", exception)
            response = error_response(503, "The database is unavailable. Try again shortly.", SERVICE_UNAVAILABLE)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)  # a replica gone mid-query: the retry reads the primary
            return response
        if isinstance(exception, BrokerUnavailable):
            logger.error("task broker unavailable: %s", exception)
            return error_response(503, "The task queue is unavailable. Try again shortly.", SERVICE_UNAVAILABLE)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal server error.", INTERNAL_ERROR)


class StaffConsoleScopeMiddleware:
    """Django admin is the staff console: for staff on /admin/, tenant managers see every tenant."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/admin/") and getattr(request.user, "is_staff", False):
            with all_tenants_scope():
                return self.get_response(request)
        return self.get_response(request)
