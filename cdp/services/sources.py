"""Sources: where tracking SDKs send from, each with a write key for Segment's HTTP Tracking API (/v1/*).

The write key is shown once (at creation and at each rotation); only its SHA-256 is stored (it carries 256 bits of
randomness, so a plain hash is a sufficient one-way function, as for API keys). It authenticates ingestion on /v1/*
and nothing else: the API's authenticators do not know it, and /v1/* knows no other credential.
"""
from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from stratum.api.exceptions import NotFound, ValidationFailed

from ..models import Source, SourceKind

WRITE_KEY_PREFIX = "wk_"
MAX_ORIGINS = 50
# A write key is looked up at most this often per source to move last_used_at (not on every tracking call).
LAST_USED_EVERY = 60


def write_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    raw = WRITE_KEY_PREFIX + secrets.token_urlsafe(32)
    return raw, write_key_hash(raw)


def origins_normalize(origins, *, kind: str) -> list[str]:
    """`https://Shop.Example.com/` -> `https://shop.example.com`; only browser sources list origins."""
    if origins is None:
        return []
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ValidationFailed(errors={"allowed_origins": ["Must be a list of origins (https://shop.example.com)."]})
    if origins and kind != SourceKind.BROWSER:
        raise ValidationFailed(errors={"allowed_origins": ["Only browser sources have allowed origins."]})
    if len(origins) > MAX_ORIGINS:
        raise ValidationFailed(errors={"allowed_origins": [f"At most {MAX_ORIGINS} origins."]})
    clean: list[str] = []
    for index, raw in enumerate(origins):
        value = raw.strip().rstrip("/")
        try:
            parts = urlsplit(value)
            port = parts.port  # raises ValueError for a port that is not a number
        except ValueError:
            parts, port = None, None
        if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path
                or parts.query or parts.fragment or parts.username or parts.password or len(value) > 255):
            raise ValidationFailed(errors={f"allowed_origins[{index}]": [
                "Not an origin: scheme://host[:port], nothing after it (e.g. https://shop.example.com)."]})
        origin = f"{parts.scheme}://{parts.hostname.lower()}" + (f":{port}" if port else "")
        if origin not in clean:
            clean.append(origin)
    return clean


def source_create(*, tenant, name: str, kind: str, allowed_origins: list[str] | None = None,
                  created_by=None) -> tuple[Source, str]:
    """Creates a source; returns it and its write key (the only time the key is readable)."""
    origins = origins_normalize(allowed_origins, kind=kind)
    raw, digest = _new_key()
    source = Source.objects.for_tenant(tenant).create(
        tenant=tenant, name=name.strip(), kind=kind, allowed_origins=origins, key_prefix=raw[:10], key_hash=digest,
        created_by=created_by)
    return source, raw


def source_rotate_key(*, tenant, source: Source) -> tuple[Source, str]:
    """Gives the source a new write key; the old one stops working at once. Returns (source, new key)."""
    raw, digest = _new_key()
    with transaction.atomic():
        locked = Source.objects.for_tenant(tenant).select_for_update().filter(pk=source.pk,
                                                                             revoked_at__isnull=True).first()
        if locked is None:
            raise NotFound()
        locked.key_prefix, locked.key_hash, locked.key_rotated_at = raw[:10], digest, timezone.now()
        locked.save(update_fields=["key_prefix", "key_hash", "key_rotated_at"])
    return locked, raw


def source_delete(*, tenant, source: Source) -> None:
    """Revokes the source: its key stops working and it leaves the list (the row stays for the record)."""
    Source.objects.for_tenant(tenant).filter(pk=source.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def source_authenticate(*, write_key: str) -> Source | None:
    """The live source (with its tenant) a write key belongs to, or None. Any tenant: the key names it."""
    if not isinstance(write_key, str) or not write_key.startswith(WRITE_KEY_PREFIX) or len(write_key) > 100:
        return None
    source = (Source.objects.unscoped().select_related("tenant")
              .filter(key_hash=write_key_hash(write_key), revoked_at__isnull=True).first())
    if source is None:
        return None
    now = timezone.now()
    if source.last_used_at is None or (now - source.last_used_at).total_seconds() > LAST_USED_EVERY:
        Source.objects.unscoped().filter(pk=source.pk).update(last_used_at=now)
    return source
