"""Notifications: one call for every part of the product that has something to tell users.

`notification_send()` stores the in-app notification for each user whose preferences allow it and
hands the rest to the registered channels (e-mail, Slack — the integrations app registers them),
after the surrounding transaction commits. Preferences live in `User.preferences["notifications"]`
as `{"in_app": {...}, "email": {...}, "slack": {...}}` of category -> bool (`"all"` for every category).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from django.db import transaction

from .models import NOTIFICATION_CATEGORIES, Notification, Tenant, User

# Defaults when a user has set nothing: in-app everything; e-mail for the important categories.
DEFAULT_PREFERENCES: dict[str, dict[str, bool]] = {
    "in_app": {"all": True},
    "email": {"campaign_alerts": True, "budget_alerts": True, "signal_alerts": True, "task_assigned": True,
              "weekly_digest": True, "sync_alerts": False},
    "slack": {},
}

_channels: dict[str, Callable[..., None]] = {}


def channel_register(name: str, sender: Callable[..., None]) -> None:
    """`sender(tenant_id=, user_ids=, category=, title=, body=, data=)` runs after commit."""
    _channels[name] = sender


def channel_enabled(user: User, channel: str, category: str) -> bool:
    prefs = ((user.preferences or {}).get("notifications") or {}).get(channel)
    if prefs is None:
        prefs = DEFAULT_PREFERENCES.get(channel, {})
    if category in prefs:
        return bool(prefs[category])
    return bool(prefs.get("all", False))


def notification_send(*, tenant: Tenant, users: Iterable[User], category: str, title: str, body: str = "",
                      data: dict[str, Any] | None = None) -> list[Notification]:
    if category not in NOTIFICATION_CATEGORIES:
        raise ValueError(f"unknown notification category {category!r}")
    users = [u for u in users if u.tenant_id == tenant.pk and u.is_active]
    data = data or {}
    created = Notification.objects.for_tenant(tenant).bulk_create([
        Notification(tenant=tenant, user=u, category=category, title=title[:255], body=body, data=data)
        for u in users if channel_enabled(u, "in_app", category)
    ])
    for name, sender in _channels.items():
        recipients = [str(u.pk) for u in users if channel_enabled(u, name, category)]
        if recipients:
            transaction.on_commit(lambda sender=sender, recipients=recipients: sender(
                tenant_id=str(tenant.pk), user_ids=recipients, category=category, title=title, body=body, data=data))
    return created


def tenant_admins(*, tenant: Tenant) -> list[User]:
    return list(User.objects.filter(tenant=tenant, is_active=True, role__in=("owner", "admin")))
