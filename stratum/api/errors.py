"""Error codes: the kernel's, and where every app's are listed.

Every error answers `{detail, code, status_code, message}`; `code` is a stable machine code. The kernel's codes are
below; each app names its own as constants in `<app>/errors.py` (a module-level constant whose value is its own
name), and raises with them (`Conflict("…", code=SYNC_IN_PROGRESS)`) rather than with a string written inline.
`error_codes()` collects them all for the OpenAPI schema (the `Error` component lists them per app).
"""
from __future__ import annotations

import importlib

from django.apps import apps

BAD_REQUEST = "BAD_REQUEST"
UNAUTHORIZED = "UNAUTHORIZED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
CONFLICT = "CONFLICT"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
VALIDATION_ERROR = "VALIDATION_ERROR"
RATE_LIMITED = "RATE_LIMITED"
INTERNAL_ERROR = "INTERNAL_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
NOT_CONNECTED = "NOT_CONNECTED"
DATABASE_BUSY = "DATABASE_BUSY"
EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
NOT_READY = "NOT_READY"
FEATURE_NOT_AVAILABLE = "FEATURE_NOT_AVAILABLE"
PLAN_LIMIT_REACHED = "PLAN_LIMIT_REACHED"


def codes_of(module) -> list[str]:
    return sorted(name for name, value in vars(module).items() if name.isupper() and value == name)


def error_codes() -> dict[str, list[str]]:
    """{app label: its codes}, the kernel's under "stratum", from every installed app that has an errors module."""
    found = {}
    for config in apps.get_app_configs():
        name = "stratum.api.errors" if config.name == "stratum.api" else f"{config.name}.errors"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        codes = codes_of(module)
        if codes:
            found["stratum" if config.name == "stratum.api" else config.label] = codes
    return found
