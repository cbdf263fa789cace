"""One error format for the whole API: {detail, code, status_code, message} (+ errors per field).

Apps raise `ApiError` subclasses (or DRF's exceptions) with their own codes; nothing else renders
errors. Validation failures answer 422 VALIDATION_ERROR, malformed bodies 400 BAD_REQUEST.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from .errors import (
    BAD_REQUEST,
    CONFLICT,
    FORBIDDEN,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    NOT_CONNECTED,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    SERVICE_UNAVAILABLE,
    UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_ERROR,
)
from .tenancy import TenantScopeMissing

logger = logging.getLogger("stratum.api")


class ApiError(exceptions.APIException):
    """Base of every error the API answers on purpose."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = BAD_REQUEST
    default_detail = "Bad request."

    def __init__(self, detail: str | None = None, code: str | None = None, *, errors: dict | None = None,
                 status_code: int | None = None, headers: dict | None = None):
        super().__init__(detail or self.default_detail, code or self.default_code)
        self.code = code or self.default_code
        self.errors = errors
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code


class ValidationFailed(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = VALIDATION_ERROR
    default_detail = "Invalid request data."

    def __init__(self, detail: str | None = None, *, errors: dict | None = None, code: str | None = None):
        if errors and not detail:
            detail = first_error_message(errors)
        super().__init__(detail, code, errors=errors)


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = NOT_FOUND
    default_detail = "Not found."


class Forbidden(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = FORBIDDEN
    default_detail = "You do not have permission to perform this action."


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = CONFLICT
    default_detail = "The resource is not in a state that allows this."


class NotConnected(Conflict):
    """The one answer for "this platform or CRM is not connected" (disconnect, accounts, sync, builder, audiences)."""

    default_code = NOT_CONNECTED
    default_detail = "This platform is not connected. Connect it first."


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = PAYLOAD_TOO_LARGE
    default_detail = "Request body is too large."


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = SERVICE_UNAVAILABLE
    default_detail = "Service temporarily unavailable."


MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation error",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

CODES = {
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    406: NOT_ACCEPTABLE,
    409: CONFLICT,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
    422: VALIDATION_ERROR,
    429: RATE_LIMITED,
    500: INTERNAL_ERROR,
    503: SERVICE_UNAVAILABLE,
}


def error_body(status_code: int, detail: str, code: str | None = None, errors: Any = None) -> dict:
    body = {
        "detail": str(detail),
        "code": code or CODES.get(status_code, "ERROR"),
        "status_code": status_code,
        "message": MESSAGES.get(status_code, "Error"),
    }
    if errors:
        body["errors"] = errors
    return body


def error_response(status_code: int, detail: str, code: str | None = None, errors: Any = None) -> JsonResponse:
    return JsonResponse(error_body(status_code, detail, code, errors), status=status_code)


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error dict -> {"a.b[1].c": ["message", ...]} (the path names the bad field)."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(key, int):  # DRF reports list items (many=True, ListField) by index: "items[0].x"
                for k, v in _flatten(value, f"{prefix}[{key}]").items():
                    flat.setdefault(k, []).extend(v)
                continue
            path = key if not prefix else (f"{prefix}.{key}" if key != "non_field_errors" else prefix)
            if key == "non_field_errors" and not prefix:
                path = "non_field_errors"
            for k, v in _flatten(value, path).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(errors, list):
        if all(not isinstance(e, (dict, list)) for e in errors):
            flat[prefix or "non_field_errors"] = [str(e) for e in errors]
        else:
            for index, value in enumerate(errors):
                if value in ({}, [], None):
                    continue
                for k, v in _flatten(value, f"{prefix}[{index}]").items():
                    flat.setdefault(k, []).extend(v)
    else:
        flat[prefix or "non_field_errors"] = [str(errors)]
    return flat


def first_error_message(errors: dict) -> str:
    for field, messages in errors.items():
        if messages:
            message = messages[0] if isinstance(messages, list) else messages
            return f"{field}: {message}" if field != "non_field_errors" else str(message)
    return "Invalid request data."


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = Forbidden()
    elif isinstance(exc, SuspiciousOperation):  # e.g. a stored file path leading outside MEDIA_ROOT: Django's 400
        logger.warning("suspicious operation: %s", exc)
        exc = ApiError("Bad request.", BAD_REQUEST)
    elif isinstance(exc, TenantScopeMissing):
        logger.error("tenant scope missing: %s", exc)
        return Response(error_body(500, "Internal server error."), status=500)

    if isinstance(exc, ApiError):
        body = error_body(exc.status_code, exc.detail, exc.code, exc.errors)
        response = Response(body, status=exc.status_code, headers=exc.headers or None)
        return response

    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return Response(error_body(422, first_error_message(errors), VALIDATION_ERROR, errors), status=422)

    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    status_code = response.status_code
    if isinstance(exc, exceptions.ParseError):
        detail = f"Malformed request body: {exc.detail}"
        code = BAD_REQUEST
    elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        status_code = 401
        detail = exc.detail if isinstance(exc.detail, str) else "Authentication credentials were not provided or are invalid."
        if isinstance(exc.detail, dict):
            detail = str(exc.detail.get("detail", "Invalid token."))
        code = UNAUTHORIZED
    elif isinstance(exc, exceptions.Throttled):
        state = getattr(getattr(context.get("request"), "_request", None), "_ratelimit_state", None)
        why = f" ({state.refusal})" if state is not None else ""
        detail = f"Rate limit exceeded{why}. Retry in {int(exc.wait or 1)} seconds."
        code = RATE_LIMITED
    elif isinstance(exc, exceptions.NotFound):
        detail, code = "Not found.", NOT_FOUND
    else:
        detail = exc.detail if isinstance(getattr(exc, "detail", None), str) else str(getattr(exc, "detail", exc))
        code = CODES.get(status_code, "ERROR")
    body = error_body(status_code, str(detail), code)
    response.data = body
    response.status_code = status_code
    if status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
