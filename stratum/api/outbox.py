"""Domain events: `emit()` writes an outbox row inside the caller's transaction."""
from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from .models import OutboxEvent

WEBHOOK_EVENTS = (
    "campaign.created",
    "campaign.activated",
    "campaign.paused",
    "campaign.deleted",
    "budget.changed",
    "signal.degraded",
    "signal.recovered",
    "autopilot.action",
    "sync.completed",
    "sync.failed",
)

_dispatch_hooks: list = []


def on_commit_dispatch(hook) -> None:
    """Integrations register the dispatcher kick here (runs after the emitting transaction commits)."""
    if hook not in _dispatch_hooks:
        _dispatch_hooks.append(hook)


def emit(tenant, event_type: str, data: dict[str, Any]):
    payload = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    event = OutboxEvent.objects.for_tenant(tenant).create(tenant=tenant, event_type=event_type, data=payload)
    for hook in _dispatch_hooks:
        transaction.on_commit(lambda hook=hook, event_id=event.pk: hook(event_id))
    return event
