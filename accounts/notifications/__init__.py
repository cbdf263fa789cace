"""Notifications: one call for every part of the product that has something to tell users.

`notification_send()` stores the in-app notification for each user whose preferences allow it and
hands the rest to the registered channels (e-mail, Slack — the webhooks app registers them), after the
surrounding transaction commits. Preferences live in `User.preferences["notifications"]` as
`{"in_app": {...}, "email": {...}, "slack": {...}}` of category -> bool (`"all"` for every category
not named). Domain events from the outbox reach users through `notification_event_fanout()`.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from stratum.api.exceptions import ValidationFailed
from stratum.api.permissions import ADMIN_ROLES

from ..models import NOTIFICATION_CATEGORIES, Notification, NotificationCategory, Tenant, User

CHANNELS = ("in_app", "email", "slack")
ALL = "all"

# Defaults when a user has set nothing: in-app everything; e-mail for the important categories.
DEFAULT_PREFERENCES: dict[str, dict[str, bool]] = {
    "in_app": {"all": True},
    "email": {"campaign_alerts": True, "budget_alerts": True, "signal_alerts": True, "task_assigned": True,
              "weekly_digest": True, "sync_alerts": False},
    "slack": {},
}

# Domain event -> the category users choose it by. `campaign.created` is left out on purpose: a first
# sync imports hundreds of campaigns, and nobody wants a message for each.
EVENT_CATEGORIES: dict[str, str] = {
    "campaign.activated": NotificationCategory.CAMPAIGN_ALERTS,
    "campaign.paused": NotificationCategory.CAMPAIGN_ALERTS,
    "campaign.deleted": NotificationCategory.CAMPAIGN_ALERTS,
    "autopilot.action": NotificationCategory.CAMPAIGN_ALERTS,
    "budget.changed": NotificationCategory.BUDGET_ALERTS,
    "signal.degraded": NotificationCategory.SIGNAL_ALERTS,
    "signal.recovered": NotificationCategory.SIGNAL_ALERTS,
    "sync.completed": NotificationCategory.SYNC_ALERTS,
    "sync.failed": NotificationCategory.SYNC_ALERTS,
    "task.assigned": NotificationCategory.TASK_ASSIGNED,
}
EVENT_TITLES: dict[str, str] = {
    "campaign.activated": "Campaign activated",
    "campaign.paused": "Campaign paused",
    "campaign.deleted": "Campaign deleted",
    "autopilot.action": "Autopilot action",
    "budget.changed": "Budget changed",
    "signal.degraded": "Signal health degraded",
    "signal.recovered": "Signal health recovered",
    "sync.completed": "Audience sync completed",
    "sync.failed": "Audience sync failed",
    "task.assigned": "Task assigned to you",
}
_SUBJECT_KEYS = ("campaign_name", "audience_name", "segment_name", "task_title", "title", "name", "platform")
_HIDDEN_KEYS = ("actor", "status")  # who did it is in `data`; the status is the title's news
# Events addressed to one person name them in their data; everything else goes to the tenant's members.
_PERSONAL_KEYS = ("assignee_id", "user_id")

_channels: dict[str, Callable[..., None]] = {}
# Who works on a client: `members(tenant=, client_id=) -> user ids`, registered by the app that owns clients
# (workflow), which stands above this one.
_client_members: list[Callable[..., Iterable]] = []


def channel_register(name: str, sender: Callable[..., None]) -> None:
    """`sender(tenant_id=, user_ids=, category=, title=, body=, data=, required=)` runs after commit; `required`
    says the message goes out whatever the recipients' preferences (so it offers no unsubscribe)."""
    _channels[name] = sender


def client_members_register(members: Callable[..., Iterable]) -> None:
    _client_members[:] = [members]


def _stored_preferences(user: User) -> dict[str, Any]:
    prefs = (user.preferences or {}).get("notifications") if isinstance(user.preferences, dict) else None
    return prefs if isinstance(prefs, dict) else {}


def _channel_settings(user: User, channel: str) -> dict[str, Any]:
    prefs = _stored_preferences(user).get(channel)
    return prefs if isinstance(prefs, dict) else DEFAULT_PREFERENCES.get(channel, {})


def channel_enabled(user: User, channel: str, category: str) -> bool:
    prefs = _channel_settings(user, channel)
    if category in prefs:
        return prefs[category] is True
    return prefs.get(ALL) is True


def notification_send(*, tenant: Tenant, users: Iterable[User], category: str, title: str, body: str = "",
                      data: dict[str, Any] | None = None,
                      required_channels: Iterable[str] = ()) -> list[Notification]:
    """`required_channels` reach every user regardless of preferences (notices about the account itself,
    such as a webhook endpoint that was switched off)."""
    if category not in NOTIFICATION_CATEGORIES:
        raise ValueError(f"unknown notification category {category!r}")
    required = set(required_channels)
    users = [u for u in users if u.tenant_id == tenant.pk and u.is_active]
    data = data or {}

    def wanted(user: User, channel: str) -> bool:
        return channel in required or channel_enabled(user, channel, category)

    created = Notification.objects.for_tenant(tenant).bulk_create([
        Notification(tenant=tenant, user=u, category=category, title=title[:255], body=body, data=data)
        for u in users if wanted(u, "in_app")
    ])
    for name, sender in _channels.items():
        recipients = [str(u.pk) for u in users if wanted(u, name)]
        if recipients:
            transaction.on_commit(lambda sender=sender, recipients=recipients, name=name: sender(
                tenant_id=str(tenant.pk), user_ids=recipients, category=category, title=title, body=body, data=data,
                required=name in required))
    return created


def tenant_admins(*, tenant: Tenant) -> list[User]:
    return list(User.objects.filter(tenant=tenant, is_active=True, role__in=ADMIN_ROLES))


# --- domain events --------------------------------------------------------------------------

def _event_recipients(*, tenant: Tenant, data: dict[str, Any], members: list[User] | None) -> list[User]:
    if members is None:
        members = list(User.objects.filter(tenant=tenant, is_active=True))
    personal = {str(data[key]) for key in _PERSONAL_KEYS if data.get(key)}
    if personal:
        return [user for user in members if str(user.pk) in personal]
    client_id = data.get("client_id")
    if client_id and _is_uuid(str(client_id)) and _client_members:
        # A client's news goes to the people who work on that client, and to the tenant's admins.
        on_client = set(_client_members[0](tenant=tenant, client_id=client_id))
        return [user for user in members if user.role in ADMIN_ROLES or user.pk in on_client]
    return members


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _event_text(event_type: str, data: dict[str, Any]) -> tuple[str, str]:
    """A readable title and body from whatever the event carries (ids and the actor stay in `data`)."""
    title = EVENT_TITLES.get(event_type, event_type)
    subject_key = next((key for key in _SUBJECT_KEYS if data.get(key) not in (None, "")), None)
    if subject_key:
        title = f"{title}: {data[subject_key]}"
    hidden = {subject_key, *_HIDDEN_KEYS}
    lines = []
    if data.get("previous_budget") is not None and data.get("new_budget") is not None:
        lines.append(f"Budget: {data['previous_budget']} → {data['new_budget']} {data.get('currency') or ''}".rstrip())
        hidden |= {"previous_budget", "new_budget", "currency"}
    lines += [f"{key.replace('_', ' ').capitalize()}: {value}" for key, value in data.items()
              if key not in hidden and not key.endswith("_id") and isinstance(value, (str, int, float))
              and not isinstance(value, bool) and str(value) != ""]
    return title[:255], "\n".join(lines)[:2000]


def notification_event_fanout(*, tenant: Tenant, event_type: str, data: dict[str, Any], event_id: str | None = None,
                              members: list[User] | None = None) -> list[Notification]:
    """Tells the tenant's users about a domain event, each as their preferences ask. Unmapped events: nothing.
    `members` (the tenant's active users) saves the lookup when many events are fanned out at once."""
    category = EVENT_CATEGORIES.get(event_type)
    if category is None:
        return []
    data = data if isinstance(data, dict) else {}
    title, body = _event_text(event_type, data)
    return notification_send(tenant=tenant, users=_event_recipients(tenant=tenant, data=data, members=members),
                             category=category, title=title, body=body,
                             data={**data, "event": event_type, "event_id": event_id})


# --- the user's own notifications (API) -----------------------------------------------------

def notification_list(*, user: User, unread_only: bool = False, category: str | None = None) -> QuerySet:
    queryset = Notification.objects.for_tenant(user.tenant_id).filter(user=user).order_by("-created_at", "-id")
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    if category:
        queryset = queryset.filter(category=category)
    return queryset


def notification_mark_read(*, user: User, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.for_tenant(user.tenant_id).filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=notification.read_at)
    return notification


def notification_mark_all_read(*, user: User) -> int:
    return notification_list(user=user, unread_only=True).update(read_at=timezone.now())


# --- preferences ----------------------------------------------------------------------------

def notification_preferences_get(*, user: User) -> dict[str, dict[str, bool]]:
    """Every channel with every category resolved to on/off (defaults filled in)."""
    return {channel: {category: channel_enabled(user, channel, category) for category in NOTIFICATION_CATEGORIES}
            for channel in CHANNELS}


def _default_enabled(channel: str, category: str) -> bool:
    defaults = DEFAULT_PREFERENCES.get(channel, {})
    return defaults.get(category, defaults.get(ALL, False)) is True


def _preferences_validate(data: Any) -> dict[str, dict[str, bool | None]]:
    if not isinstance(data, dict):
        raise ValidationFailed(errors={"non_field_errors": ["Expected an object of channels."]})
    errors: dict[str, list[str]] = {}
    allowed = (ALL, *NOTIFICATION_CATEGORIES)
    for channel, settings_in in data.items():
        if channel not in CHANNELS:
            errors[str(channel)[:64]] = [f"Unknown channel. Known: {', '.join(CHANNELS)}."]
            continue
        if not isinstance(settings_in, dict):
            errors[channel] = ["Expected an object of category -> true/false."]
            continue
        for key, value in settings_in.items():
            if key not in allowed:
                errors[f"{channel}.{str(key)[:64]}"] = [f"Unknown category. Known: {', '.join(allowed)}."]
            elif value is not None and not isinstance(value, bool):
                errors[f"{channel}.{key}"] = ["Must be true, false or null (null restores the default)."]
    if errors:
        raise ValidationFailed(errors=errors)
    return data


def notification_preferences_update(*, user: User, data: Any) -> dict[str, dict[str, bool]]:
    """Merges per channel. `all` first resets the channel's categories, then named categories apply on top;
    null puts a setting back to its default."""
    changes = _preferences_validate(data)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        preferences = dict(user.preferences) if isinstance(user.preferences, dict) else {}
        stored = dict(_stored_preferences(user))
        for channel, settings_in in changes.items():
            current = dict(_channel_settings(user, channel))
            if ALL in settings_in:
                current = dict(DEFAULT_PREFERENCES[channel]) if settings_in[ALL] is None else {ALL: settings_in[ALL]}
            for key, value in settings_in.items():
                if key != ALL:
                    current[key] = _default_enabled(channel, key) if value is None else value
            stored[channel] = current
        preferences["notifications"] = stored
        user.preferences = preferences
        user.save(update_fields=["preferences", "updated_at"])
    return notification_preferences_get(user=user)


def notification_email_unsubscribe(*, user: User, category: str) -> dict[str, dict[str, bool]]:
    """One-click unsubscribe (a signed link in the mail, RFC 8058): that category's e-mails off. Idempotent."""
    return notification_preferences_update(user=user, data={"email": {category: False}})


def notification_email_preferences_set(*, user: User, enabled: dict[str, bool]) -> dict[str, dict[str, bool]]:
    """The e-mail preferences page: each category on or off, as chosen (the same store as the API's PATCH)."""
    return notification_preferences_update(user=user, data={"email": {category: bool(enabled.get(category))
                                                                      for category in NOTIFICATION_CATEGORIES}})
