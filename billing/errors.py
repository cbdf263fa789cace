"""The billing app's error codes (named here, listed in the OpenAPI schema by stratum/api/errors.py)."""

INVALID_SIGNATURE = "INVALID_SIGNATURE"
PAYMENTS_NOT_CONFIGURED = "PAYMENTS_NOT_CONFIGURED"
PAYMENT_PROVIDER_ERROR = "PAYMENT_PROVIDER_ERROR"
