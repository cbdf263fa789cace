"""Standard Webhooks signatures (https://www.standardwebhooks.com/, symmetric scheme).

- Secrets are shown as `whsec_` + base64 of the key bytes; a generated key has 32 random bytes.
  A secret the user chooses is accepted either in that form (the key must decode to 24–64 bytes, as the
  standard asks) or as a plain string of 16–128 printable characters, whose UTF-8 bytes become the key
  (we show it back in the `whsec_` form, so both the standard libraries and a hand-rolled HMAC work).
- The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the header value is
  `v1,<base64 HMAC-SHA256>`, one per active secret, space-separated (zero-downtime rotation).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
GENERATED_KEY_BYTES = 32
KEY_BYTES_RANGE = (24, 64)
PLAIN_SECRET_LENGTH = (16, 128)


class InvalidSecret(ValueError):
    pass


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_KEY_BYTES)).decode()


def secret_normalize(raw: str) -> str:
    """A user-chosen secret in the `whsec_<base64>` form, or InvalidSecret saying what is wrong."""
    if not isinstance(raw, str) or not raw:
        raise InvalidSecret("The secret may not be empty.")
    if raw.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(raw[len(SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSecret("A whsec_ secret must be followed by base64.") from None
        low, high = KEY_BYTES_RANGE
        if not low <= len(key) <= high:
            raise InvalidSecret(f"A whsec_ secret must decode to {low} to {high} bytes.")
        return raw
    low, high = PLAIN_SECRET_LENGTH
    if not low <= len(raw) <= high:
        raise InvalidSecret(f"The secret must be {low} to {high} characters long.")
    if not raw.isprintable() or any(ch.isspace() for ch in raw):
        raise InvalidSecret("The secret may contain only printable characters without spaces.")
    return SECRET_PREFIX + base64.b64encode(raw.encode()).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret[len(SECRET_PREFIX):])


def secret_hint(secret: str) -> str:
    return secret[:len(SECRET_PREFIX) + 4]


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: Iterable[str], *, message_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(secret, message_id=message_id, timestamp=timestamp, body=body) for secret in secrets_in_use)
