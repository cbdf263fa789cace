"""The form in which ad platforms receive a person: normalised identifiers, SHA-256 hashed (the platforms' rule).

Every connector hashes through `hashed_identifiers` (integrations) on top of these; the CDP keeps the hashed form of an
erased person (`member_hashed`) so that the next audience sync can still remove them at the platform after every
readable row about them is gone.
"""
from __future__ import annotations

import hashlib
import re

import phonenumbers

from .base import AudienceMember


def normalize_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email if "@" in email else None


def normalize_phone(phone: str | None, *, plus: bool = True) -> str | None:
    """E.164 (`+15551234567`); `plus=False` gives the digits only (Meta, Snapchat)."""
    raw = (phone or "").strip()
    if not raw:
        return None
    try:
        parsed = phonenumbers.parse(raw if raw.startswith("+") else f"+{re.sub(r'[^0-9]', '', raw)}", None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164 if plus else e164[1:]


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def member_hashed(member: AudienceMember) -> AudienceMember:
    """The same person with only the hashes a platform receives (e-mail; phone as E.164 and as digits)."""
    email = normalize_email(member.email)
    plus, digits = normalize_phone(member.phone, plus=True), normalize_phone(member.phone, plus=False)
    return AudienceMember(email_sha256=sha256(email) if email else None,
                          phone_sha256=sha256(plus) if plus else None,
                          phone_digits_sha256=sha256(digits) if digits else None)
