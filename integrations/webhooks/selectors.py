"""Reads: endpoints, their delivery log, the event catalogue."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import Tenant
from stratum.api.outbox import WEBHOOK_EVENTS

from .models import Webhook, WebhookAttempt, WebhookDelivery

# The spec's "Webhooks Events" table.
EVENT_DESCRIPTIONS = {
    "campaign.created": "New campaign created",
    "campaign.activated": "Campaign activated",
    "campaign.paused": "Campaign paused",
    "campaign.deleted": "Campaign deleted",
    "budget.changed": "Budget modified",
    "signal.degraded": "Signal health degraded",
    "signal.recovered": "Signal health recovered",
    "autopilot.action": "Autopilot action executed",
    "sync.completed": "Audience sync completed",
    "sync.failed": "Audience sync failed",
}


def webhook_events() -> list[dict[str, str]]:
    return [{"event": name, "description": EVENT_DESCRIPTIONS.get(name, name)} for name in WEBHOOK_EVENTS]


def webhook_list(*, tenant: Tenant, is_active: bool | None = None) -> QuerySet:
    queryset = Webhook.objects.for_tenant(tenant).order_by("-created_at", "id")
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    return queryset


def delivery_list(*, tenant: Tenant, webhook: Webhook, status: str | None = None,
                  event_type: str | None = None) -> QuerySet:
    """Newest first, each with its attempts (one extra query for the whole page)."""
    queryset = (WebhookDelivery.objects.for_tenant(tenant).filter(webhook=webhook)
                .prefetch_related(Prefetch("attempts", queryset=WebhookAttempt.objects.for_tenant(tenant)
                                           .order_by("number")))
                .order_by("-created_at", "id"))
    if status:
        queryset = queryset.filter(status=status)
    if event_type:
        queryset = queryset.filter(event_type=event_type)
    return queryset
