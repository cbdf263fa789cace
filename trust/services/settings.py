"""Autopilot settings: one row per tenant, created with the defaults on first use; every change is audited."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from ..models import AutopilotSettings
from .audit import audit_record

SETTING_FIELDS = ("enabled", "mode", "max_budget_change_percent", "require_approval_above",
                  "pause_on_degraded_signal", "target_roas")


def autopilot_settings_get(*, tenant) -> AutopilotSettings:
    settings = AutopilotSettings.objects.for_tenant(tenant).first()
    if settings is not None:
        return settings
    try:
        with transaction.atomic():
            return AutopilotSettings.objects.for_tenant(tenant).create(tenant=tenant)
    except IntegrityError:  # created concurrently
        return AutopilotSettings.objects.for_tenant(tenant).get()


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def autopilot_settings_update(*, tenant, actor, data: dict[str, Any]) -> AutopilotSettings:
    """`data` is already validated (ranges checked by the serializer). Records who changed what."""
    with transaction.atomic():
        autopilot_settings_get(tenant=tenant)
        settings = AutopilotSettings.objects.for_tenant(tenant).select_for_update().get()
        changes = {}
        for key in SETTING_FIELDS:
            if key in data and getattr(settings, key) != data[key]:
                changes[key] = {"from": _plain(getattr(settings, key)), "to": _plain(data[key])}
                setattr(settings, key, data[key])
        if changes:
            settings.updated_by = getattr(actor, "user", None)
            settings.save()
            audit_record(tenant=tenant, event="settings", decision="updated", actor=actor, action="settings_update",
                         reason="Autopilot settings changed: " + ", ".join(sorted(changes)) + ".",
                         details={"changes": changes}, target="Autopilot settings")
    return settings
