"""The integrations app's API errors (rendered by stratum.api.exceptions in the one error format)."""
from __future__ import annotations

from stratum.api import exceptions
from stratum.api.exceptions import ApiError, NotFound, ServiceUnavailable

# Error codes (stratum/api/errors.py lists every app's in the OpenAPI schema)
# (the PLATFORM_* and CRM_* codes are those of the connectors' ConnectorError, passed on by the services).
CRM_MAPPING_INVALID = "CRM_MAPPING_INVALID"
DELIVERY_IN_PROGRESS = "DELIVERY_IN_PROGRESS"
INVALID_OAUTH_STATE = "INVALID_OAUTH_STATE"
OAUTH_CODE_REJECTED = "OAUTH_CODE_REJECTED"
OAUTH_DENIED = "OAUTH_DENIED"
PLATFORM_AUTH_FAILED = "PLATFORM_AUTH_FAILED"
PLATFORM_FORBIDDEN = "PLATFORM_FORBIDDEN"
PLATFORM_NOT_FOUND = "PLATFORM_NOT_FOUND"
PLATFORM_UNAVAILABLE = "PLATFORM_UNAVAILABLE"
PLATFORM_UNREACHABLE = "PLATFORM_UNREACHABLE"
PROVIDER_ERROR = "PROVIDER_ERROR"
PROVIDER_NOT_CONFIGURED = "PROVIDER_NOT_CONFIGURED"
WEBHOOK_DISABLED = "WEBHOOK_DISABLED"
WEBHOOK_LIMIT_REACHED = "WEBHOOK_LIMIT_REACHED"


class ProviderNotConfigured(ServiceUnavailable):
    default_code = PROVIDER_NOT_CONFIGURED
    default_detail = "This provider is not configured on this Stratum installation."


class UnknownProvider(NotFound):
    default_detail = "Unknown platform."


class InvalidOAuthState(ApiError):
    default_code = INVALID_OAUTH_STATE
    default_detail = "The OAuth state is invalid, expired or already used. Start the connection again."


class OAuthDenied(ApiError):
    default_code = OAUTH_DENIED
    default_detail = "The authorization was denied at the provider."


class OAuthCodeRejected(ApiError):
    default_code = OAUTH_CODE_REJECTED
    default_detail = "The provider rejected the authorization code. Start the connection again."


class ProviderError(ApiError):
    status_code = 502
    default_code = PROVIDER_ERROR
    default_detail = "The provider did not answer as expected. Try again later."


NotConnected = exceptions.NotConnected  # one answer everywhere: 409 NOT_CONNECTED (the kernel's)
