"""The cdp app's error codes (named here, listed in the OpenAPI schema by stratum/api/errors.py)."""

EXPORT_NOT_READY = "EXPORT_NOT_READY"
SEGMENT_IN_USE = "SEGMENT_IN_USE"
SYNC_IN_PROGRESS = "SYNC_IN_PROGRESS"
