"""The workflow app's error codes (named here, listed in the OpenAPI schema by stratum/api/errors.py)."""

AD_ACCOUNT_LINKED = "AD_ACCOUNT_LINKED"
ALREADY_MEMBER = "ALREADY_MEMBER"
CREATIVE_DECIDED = "CREATIVE_DECIDED"
INSTANCE_CLOSED = "INSTANCE_CLOSED"
TASK_CLOSED = "TASK_CLOSED"
