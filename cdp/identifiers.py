"""Identifier normalization and the resolution rules (blocklist, per-type caps).

E-mails are trimmed and lower-cased, phones become E.164 (`phonenumbers`), other identifiers are trimmed
strings of at most 255 characters. Values that many unrelated people share (test addresses, "undefined"
anonymous ids) never link profiles: merging on them would glue strangers together.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from accounts.validators import normalize_phone

from .models import IdentityRules

IDENTIFIER_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Not identifier types: `profile_id` is our own id (given beside `identifiers`, and how the identity log names a
# merge an explicit profile id caused).
RESERVED_TYPES = frozenset({"profile_id"})
MAX_IDENTIFIERS = 10
# Resolution priority: a stronger identifier decides which profile an event belongs to when caps forbid a merge.
PRIORITY = ("external_id", "email", "phone", "anonymous_id")
DEFAULT_CAPS = {"external_id": 1, "email": 5, "phone": 5, "anonymous_id": 100}
DEFAULT_CAP_OTHER = 25
MAX_CAP = 10_000

# Junk values that show up in real tracking data and would merge strangers.
BUILTIN_BLOCKLIST: dict[str, frozenset[str]] = {
    "email": frozenset({
        "test@test.com", "test@example.com", "user@example.com", "email@example.com", "noreply@example.com",
        "no-reply@example.com", "a@a.com", "test@gmail.com", "none@none.com", "null@null.com",
    }),
    "phone": frozenset({"+10000000000", "+11111111111", "+12345678900", "+15555555555"}),
    "*": frozenset({"null", "undefined", "none", "nan", "n/a", "na", "0", "-", "unknown", "anonymous",
                    "[object object]", "test", "guest"}),
}


class IdentifierError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {v[0]}" for k, v in errors.items()))
        self.errors = errors


def normalize_value(kind: str, raw) -> str:
    """One identifier value in its stored form, or ValueError saying what is wrong."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ValueError("Must be a string.")
    value = str(raw).strip()
    if not value:
        raise ValueError("Must not be blank.")
    if kind == "email":
        value = value.lower()
        if len(value) > 254:
            raise ValueError("At most 254 characters.")
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("Not a valid e-mail address.") from None
        return value
    if kind == "phone":
        if len(value) > 32 or not re.fullmatch(r"\+?[0-9 ().\-]{6,32}", value):
            raise ValueError("Not a phone number (use international format, e.g. +14155550123).")
        return normalize_phone(value if value.startswith("+") else "+" + value)
    if len(value) > 255:
        raise ValueError("At most 255 characters.")
    return value


def normalize_identifiers(raw, *, path: str = "identifiers") -> dict[str, str]:
    """{"email": " A@B.com "} -> {"email": "a@b.com"}; IdentifierError naming `identifiers.<type>` on bad input."""
    if not isinstance(raw, dict):
        raise IdentifierError({path: ["Must be an object of identifier type to value."]})
    if len(raw) > MAX_IDENTIFIERS:
        raise IdentifierError({path: [f"At most {MAX_IDENTIFIERS} identifiers."]})
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}
    for kind, value in raw.items():
        if not isinstance(kind, str) or not IDENTIFIER_TYPE_RE.match(kind):
            errors[f"{path}.{str(kind)[:40]}"] = ["Identifier types are lower-case words (email, phone, …)."]
            continue
        if kind in RESERVED_TYPES:
            errors[f"{path}.{kind}"] = [f"{kind} is not an identifier type; name the profile by its id instead."]
            continue
        if value is None:
            continue
        try:
            clean[kind] = normalize_value(kind, value)
        except ValueError as exc:
            errors[f"{path}.{kind}"] = [str(exc)]
    if errors:
        raise IdentifierError(errors)
    return clean


def priority(kind: str) -> int:
    return PRIORITY.index(kind) if kind in PRIORITY else len(PRIORITY)


@dataclass
class Rules:
    """A tenant's rules as used during resolution (loaded once per request or batch)."""

    blocked: set[tuple[str, str]] = field(default_factory=set)
    caps: dict[str, int] = field(default_factory=dict)

    def is_blocked(self, kind: str, value: str) -> bool:
        lowered = value.lower()
        return ((kind, value) in self.blocked or lowered in BUILTIN_BLOCKLIST["*"]
                or lowered in BUILTIN_BLOCKLIST.get(kind, ()))

    def cap(self, kind: str) -> int:
        return int(self.caps.get(kind, DEFAULT_CAPS.get(kind, DEFAULT_CAP_OTHER)))


def rules_for(*, tenant) -> Rules:
    row = IdentityRules.objects.for_tenant(tenant).first()
    if row is None:
        return Rules()
    return Rules(blocked={(entry["type"], entry["value"]) for entry in row.blocklist or []}, caps=dict(row.caps or {}))
