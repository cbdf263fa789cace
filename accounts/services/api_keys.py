"""API keys: created (shown once) and revoked by tenant admins."""
from __future__ import annotations

import secrets
from datetime import datetime

from django.utils import timezone

from stratum.api.exceptions import NotFound, ValidationFailed
from stratum.api.permissions import SCOPES

from ..authentication import API_KEY_PREFIX
from ..models import ApiKey, Tenant, User, hash_api_key


def api_key_create(*, tenant: Tenant, created_by: User, name: str, permissions: list[str],
                   expires_at: datetime | None) -> tuple[ApiKey, str]:
    unknown = [p for p in permissions if p not in SCOPES]
    if unknown:
        raise ValidationFailed(errors={"permissions": [f"Unknown scope: {', '.join(unknown)}."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(errors={"expires_at": ["Must be in the future."]})
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.for_tenant(tenant).create(
        tenant=tenant, name=name.strip(), prefix=raw[:12], key_hash=hash_api_key(raw),
        permissions=sorted(set(permissions)), created_by=created_by, expires_at=expires_at,
    )
    return key, raw


def api_key_revoke(*, tenant: Tenant, key: ApiKey) -> ApiKey:
    if key.tenant_id != tenant.pk:
        raise NotFound()
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
