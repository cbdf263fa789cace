"""The analytics app's error codes (named here, listed in the OpenAPI schema by stratum/api/errors.py)."""

REPORT_NOT_READY = "REPORT_NOT_READY"
STANDARD_TEMPLATE_READ_ONLY = "STANDARD_TEMPLATE_READ_ONLY"
