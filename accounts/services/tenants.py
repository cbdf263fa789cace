"""Tenants: creation (a unique slug, also under parallel sign-ups) and settings."""
from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from stratum.api.exceptions import ValidationFailed

from ..models import Tenant
from ..validators import TENANT_SETTING_KEYS, is_valid_currency, is_valid_timezone

SLUG_ATTEMPTS = 8


def _slug_candidates(name: str):
    base = slugify(name)[:60] or "tenant"
    yield base
    n = 2
    while Tenant.objects.filter(slug=f"{base}-{n}").exists() and n < 50:
        n += 1
    yield f"{base}-{n}"
    while True:  # taken meanwhile by a parallel sign-up of the same name: a random suffix cannot collide twice
        yield f"{base}-{secrets.token_hex(3)}"


def tenant_create(*, name: str, settings: dict[str, Any] | None = None) -> Tenant:
    """A tenant with a unique slug from its name (`acme`, `acme-2`, then a random suffix when parallel sign-ups of
    one name collide): a collision retries with the next candidate, never a 500."""
    candidates = _slug_candidates(name)
    for attempt in range(SLUG_ATTEMPTS):
        slug = next(candidates)
        if attempt < 2 and Tenant.objects.filter(slug=slug).exists():
            continue
        try:
            with transaction.atomic():
                return Tenant.objects.create(name=name[:200], slug=slug,
                                             settings=settings or {"timezone": "UTC", "currency": "USD"})
        except IntegrityError:
            continue
    raise RuntimeError(f"no free slug for tenant {name!r} after {SLUG_ATTEMPTS} attempts")


def tenant_settings_validate(settings_in: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for key in settings_in:
        if key not in TENANT_SETTING_KEYS:
            errors[f"settings.{key}"] = [f"Unknown setting. Known: {', '.join(TENANT_SETTING_KEYS)}."]
    if "timezone" in settings_in and not is_valid_timezone(settings_in["timezone"]):
        errors["settings.timezone"] = ["Not an IANA time zone (e.g. Europe/Berlin)."]
    if "currency" in settings_in and not is_valid_currency(settings_in["currency"]):
        errors["settings.currency"] = ["Not an ISO-4217 currency code (e.g. USD)."]
    if "week_start" in settings_in and settings_in["week_start"] not in ("monday", "sunday"):
        errors["settings.week_start"] = ["Must be monday or sunday."]
    if "attribution_window_days" in settings_in:
        value = settings_in["attribution_window_days"]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 90:
            errors["settings.attribution_window_days"] = ["Must be an integer from 1 to 90."]
    if errors:
        raise ValidationFailed(errors=errors)
    return settings_in


def tenant_update(*, tenant: Tenant, data: dict[str, Any]) -> Tenant:
    if "name" in data:
        tenant.name = data["name"].strip()
    if "settings" in data:
        merged = dict(tenant.settings or {})
        merged.update(tenant_settings_validate(data["settings"]))
        tenant.settings = merged
    tenant.save()
    return tenant
