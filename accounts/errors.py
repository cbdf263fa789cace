"""The accounts context's errors and their codes (named constants; the format is stratum.api.exceptions')."""
from __future__ import annotations

from stratum.api.exceptions import CODES, ApiError, Conflict, Forbidden

from .lockout import LOCKED_OUT_MESSAGE

INVALID_TOKEN = "INVALID_TOKEN"
TENANT_SUSPENDED = "TENANT_SUSPENDED"
LAST_OWNER = "LAST_OWNER"
CANNOT_DEACTIVATE_SELF = "CANNOT_DEACTIVATE_SELF"
ALREADY_MEMBER = "ALREADY_MEMBER"
NO_PENDING_INVITATION = "NO_PENDING_INVITATION"


class InvalidCredentials(ApiError):
    status_code = 401
    default_code = CODES[401]
    default_detail = "Invalid e-mail or password."


class SessionInvalid(ApiError):
    status_code = 401
    default_code = CODES[401]
    default_detail = "Refresh token is invalid, expired or revoked."


class LoginLockedOut(ApiError):
    status_code = 429
    default_code = CODES[429]
    default_detail = LOCKED_OUT_MESSAGE


class InvalidToken(ApiError):
    status_code = 400
    default_code = INVALID_TOKEN
    default_detail = "This link is invalid or has expired."


class TenantSuspended(Forbidden):
    default_code = TENANT_SUSPENDED
    default_detail = "This account is suspended. Contact support."


class AlreadyMember(Conflict):
    default_code = ALREADY_MEMBER
    default_detail = "This person is already a member of your workspace or has a pending invitation."
