"""The campaigns app's error codes, and how a platform failure becomes an API error.

Codes: PLATFORM_ERROR (502, the platform failed), PLATFORM_AUTH_FAILED (502, reconnect the platform),
PLATFORM_RATE_LIMITED (503 + Retry-After), NOT_CONNECTED (409, the platform is not connected: the kernel's one answer),
PLATFORM_REJECTED / BUDGET_TOO_LOW / CAMPAIGN_NOT_FOUND / CAMPAIGN_DELETED from the platform (422),
CAMPAIGN_DELETED (409, changing a deleted campaign), AD_ACCOUNT_INACTIVE (409).
"""
from __future__ import annotations

from stratum.api.exceptions import ApiError

# Error codes (stratum/api/errors.py lists every app's in the OpenAPI schema). The PLATFORM_* codes, and the demo
# platform's, are those of the connectors (campaigns.connectors.base.ConnectorError.code); the services pass them on.
ACCOUNT_NOT_FOUND = "ACCOUNT_NOT_FOUND"
AD_ACCOUNT_INACTIVE = "AD_ACCOUNT_INACTIVE"
AUDIENCES_UNSUPPORTED = "AUDIENCES_UNSUPPORTED"
BUDGET_TOO_LOW = "BUDGET_TOO_LOW"
CAMPAIGN_DELETED = "CAMPAIGN_DELETED"
CAMPAIGN_NOT_FOUND = "CAMPAIGN_NOT_FOUND"
INTERNAL_ERROR = "INTERNAL_ERROR"
INTERRUPTED = "INTERRUPTED"
INVALID_STATUS = "INVALID_STATUS"
PLATFORM_AUTH_FAILED = "PLATFORM_AUTH_FAILED"
PLATFORM_ERROR = "PLATFORM_ERROR"
PLATFORM_RATE_LIMITED = "PLATFORM_RATE_LIMITED"
PLATFORM_REJECTED = "PLATFORM_REJECTED"


class PlatformError(ApiError):
    status_code = 502
    default_code = PLATFORM_ERROR
    default_detail = "The ad platform failed to carry out the request; nothing was changed."
