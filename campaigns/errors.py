"""The campaigns app's error codes, and how a platform failure becomes an API error.

Codes: PLATFORM_ERROR (502, the platform failed), PLATFORM_AUTH_FAILED (502, reconnect the platform),
PLATFORM_RATE_LIMITED (503 + Retry-After), NOT_CONNECTED (409, the platform is not connected: the kernel's one answer),
PLATFORM_REJECTED / BUDGET_TOO_LOW / CAMPAIGN_NOT_FOUND / CAMPAIGN_DELETED from the platform (422),
CAMPAIGN_DELETED (409, changing a deleted campaign), AD_ACCOUNT_INACTIVE (409).
"""
from __future__ import annotations

import math

from stratum.api.exceptions import NOT_CONNECTED, ApiError, NotConnected, ValidationFailed

from .connectors.base import ConnectorError, ConnectorRateLimited, ConnectorRejected

# Error codes (stratum/api/errors.py lists every app's in the OpenAPI schema)
AD_ACCOUNT_INACTIVE = "AD_ACCOUNT_INACTIVE"
BUDGET_TOO_LOW = "BUDGET_TOO_LOW"
CAMPAIGN_DELETED = "CAMPAIGN_DELETED"
INTERNAL_ERROR = "INTERNAL_ERROR"
INTERRUPTED = "INTERRUPTED"
PLATFORM_ERROR = "PLATFORM_ERROR"


class PlatformError(ApiError):
    status_code = 502
    default_code = PLATFORM_ERROR
    default_detail = "The ad platform failed to carry out the request; nothing was changed."


def platform_error(exc: ConnectorError) -> ApiError:
    """The API error for a failed platform call (the caller's transaction rolls back: nothing changes)."""
    message = f"The ad platform refused or failed the request: {exc}. Nothing was changed."
    if isinstance(exc, ConnectorRateLimited) or exc.code == "PLATFORM_RATE_LIMITED":
        retry = max(1, math.ceil(exc.retry_after or 60))
        return ApiError(message, exc.code, status_code=503, headers={"Retry-After": str(retry)})
    if exc.code == NOT_CONNECTED:
        return NotConnected(f"{exc} Connect the platform first.")
    if isinstance(exc, ConnectorRejected):
        return ValidationFailed(message, code=exc.code)
    return PlatformError(message, exc.code)
