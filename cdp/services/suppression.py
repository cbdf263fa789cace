"""The suppression list: identifiers ingestion drops, kept only as keyed hashes.

A digest is HMAC-SHA256 over "type:value" (the stored, normalised form) with a secret of the tenant's own (random,
Fernet-encrypted at rest like every secret): without the secret the list says nothing about who is on it, and the
same address hashes differently in every tenant. `items_ingest` asks `suppressed_among` once per batch, under the
identifier locks it holds, so an erasure (which takes the same locks) and an ingestion of the same person serialise.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from stratum.api.crypto import secret_decrypt, secret_encrypt
from stratum.api.exceptions import Conflict

from ..errors import IDENTIFIER_SUPPRESSED
from ..models import PrivacySettings, SuppressedIdentifier

PROFILE_ID = "profile_id"  # a suppressed profile id drops items naming the profile by id


class IdentifierSuppressed(Conflict):
    """A profile upsert naming a suppressed identifier: nothing is stored (409 IDENTIFIER_SUPPRESSED)."""

    default_code = IDENTIFIER_SUPPRESSED
    default_detail = "These identifiers belong to a person whose data may not be collected; nothing was stored."


def privacy_settings(*, tenant, create: bool = False) -> PrivacySettings | None:
    row = PrivacySettings.objects.for_tenant(tenant).first()
    if row is None and create:
        try:
            with transaction.atomic():
                row = PrivacySettings.objects.for_tenant(tenant).create(tenant=tenant)
        except IntegrityError:  # created by a parallel request
            row = PrivacySettings.objects.for_tenant(tenant).get()
    return row


def suppression_key(*, tenant, create: bool = False) -> bytes | None:
    """The tenant's HMAC key; made (once, race-safe) when `create`, else None while the tenant has none."""
    row = privacy_settings(tenant=tenant, create=create)
    if row is None:
        return None
    if not row.suppression_secret and create:
        PrivacySettings.objects.for_tenant(tenant).filter(pk=row.pk, suppression_secret="").update(
            suppression_secret=secret_encrypt(secrets.token_hex(32)))
        row.refresh_from_db(fields=["suppression_secret"])
    return secret_decrypt(row.suppression_secret).encode() if row.suppression_secret else None


def identifier_digest(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def suppressed_among(*, tenant, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (type, stored value) pairs are suppressed: one query (none while the tenant has no key)."""
    pairs = set(pairs)
    if not pairs:
        return set()
    key = suppression_key(tenant=tenant)
    if key is None:
        return set()
    digests = {identifier_digest(key, kind, value): (kind, value) for kind, value in pairs}
    found = SuppressedIdentifier.objects.for_tenant(tenant).filter(digest__in=list(digests)).values_list(
        "digest", flat=True)
    return {digests[digest] for digest in found}


def suppression_add(*, tenant, pairs: Iterable[tuple[str, str]], request=None) -> int:
    """Suppresses these pairs (already suppressed ones are left as they are); how many were new."""
    key = suppression_key(tenant=tenant, create=True)
    digests = sorted({identifier_digest(key, kind, value) for kind, value in pairs})
    if not digests:
        return 0
    existing = set(SuppressedIdentifier.objects.for_tenant(tenant).filter(digest__in=digests)
                   .values_list("digest", flat=True))
    SuppressedIdentifier.objects.for_tenant(tenant).bulk_create(
        [SuppressedIdentifier(tenant=tenant, digest=d, request=request) for d in digests if d not in existing],
        ignore_conflicts=True)
    return len(set(digests) - existing)


def suppression_remove(*, tenant, pairs: Iterable[tuple[str, str]]) -> int:
    key = suppression_key(tenant=tenant)
    if key is None:
        return 0
    digests = [identifier_digest(key, kind, value) for kind, value in set(pairs)]
    deleted, _ = SuppressedIdentifier.objects.for_tenant(tenant).filter(digest__in=digests).delete()
    return deleted
