"""The cdp app's error codes (named here, listed in the OpenAPI schema by stratum/api/errors.py)."""

from stratum.api.exceptions import ValidationFailed

EXPORT_NOT_READY = "EXPORT_NOT_READY"
MERGE_CHANGED = "MERGE_CHANGED"
NO_USABLE_IDENTIFIER = "NO_USABLE_IDENTIFIER"
NOTHING_TO_UNMERGE = "NOTHING_TO_UNMERGE"
PROFILE_MERGED = "PROFILE_MERGED"
SEGMENT_IN_USE = "SEGMENT_IN_USE"
SYNC_IN_PROGRESS = "SYNC_IN_PROGRESS"


class NoUsableIdentifier(ValidationFailed):
    default_code = NO_USABLE_IDENTIFIER
