"""Webhook endpoints: create, change, delete, rotate the secret, test, redeliver."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant, User
from stratum.api import net
from stratum.api.crypto import secret_encrypt
from stratum.api.exceptions import Conflict, ValidationFailed
from stratum.api.outbox import WEBHOOK_EVENTS
from stratum.api.updates import changes_apply, changes_pick

from ..errors import DELIVERY_IN_PROGRESS, WEBHOOK_DISABLED, WEBHOOK_LIMIT_REACHED
from . import delivery as delivery_flow
from .models import Webhook, WebhookDelivery
from .signing import InvalidSecret, secret_generate, secret_hint, secret_normalize

MAX_WEBHOOKS_PER_TENANT = 25
ROTATION_OVERLAP = timedelta(hours=24)


def webhook_events_validate(events: list[str]) -> list[str]:
    unknown = [name for name in events if name not in WEBHOOK_EVENTS]
    if unknown:
        raise ValidationFailed(errors={"events": [
            f"Unknown event {', '.join(map(str, unknown[:5]))}. Known: {', '.join(WEBHOOK_EVENTS)}."]})
    if not events:
        raise ValidationFailed(errors={"events": ["Subscribe to at least one event."]})
    return list(dict.fromkeys(events))


def _secret(raw: str | None) -> str:
    if raw is None:
        return secret_generate()
    try:
        return secret_normalize(raw)
    except InvalidSecret as exc:
        raise ValidationFailed(errors={"secret": [str(exc)]}) from None


def webhook_create(*, tenant: Tenant, created_by: User | None, name: str, url: str, events: list[str],
                   secret: str | None = None) -> tuple[Webhook, str]:
    """Returns the webhook and its secret, which is shown this once."""
    url = net.public_url_validate(url)
    events = webhook_events_validate(events)
    signing_secret = _secret(secret)
    with transaction.atomic():
        # Lock the tenant row so two concurrent creations cannot both pass the limit.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if Webhook.objects.for_tenant(tenant).count() >= MAX_WEBHOOKS_PER_TENANT:
            raise Conflict(f"A tenant may have at most {MAX_WEBHOOKS_PER_TENANT} webhooks.", WEBHOOK_LIMIT_REACHED)
        webhook = Webhook.objects.for_tenant(tenant).create(
            tenant=tenant, created_by=created_by, name=name.strip(), url=url, events=events,
            secret_encrypted=secret_encrypt(signing_secret), secret_hint=secret_hint(signing_secret))
    return webhook, signing_secret


def webhook_update(*, tenant: Tenant, webhook: Webhook, data: dict[str, Any]) -> Webhook:
    """Name, URL, events and on/off. Switching back on clears the failure record; switching off fails
    the pending deliveries (they can be redelivered later)."""
    changes = changes_pick(data, {"name": str.strip, "url": net.public_url_validate, "events": webhook_events_validate})
    with transaction.atomic():
        changes_apply(webhook, changes)
        webhook.save()
        if data.get("is_active") is True and not webhook.is_active:
            Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk).update(
                is_active=True, disabled_reason="", disabled_at=None, failing_since=None)
        elif data.get("is_active") is False and webhook.is_active:
            delivery_flow.webhook_disable(tenant=tenant, webhook=webhook, reason=Webhook.DisabledReason.MANUAL)
    webhook.refresh_from_db()
    return webhook


def webhook_delete(*, tenant: Tenant, webhook: Webhook) -> None:
    """Deletes the endpoint with its delivery log; nothing more is sent to it."""
    Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk).delete()


def webhook_secret_rotate(*, tenant: Tenant, webhook: Webhook, secret: str | None = None) -> tuple[Webhook, str]:
    """A new secret signs from now on; the current one keeps signing alongside it for 24 hours, so
    receivers can switch without missing an event. Returns the new secret (shown this once)."""
    new_secret = _secret(secret)
    now = timezone.now()
    with transaction.atomic():
        webhook = Webhook.objects.for_tenant(tenant).select_for_update().get(pk=webhook.pk)
        webhook.previous_secret_encrypted = webhook.secret_encrypted
        webhook.previous_secret_expires_at = now + ROTATION_OVERLAP
        webhook.secret_encrypted = secret_encrypt(new_secret)
        webhook.secret_hint = secret_hint(new_secret)
        webhook.save()
    return webhook, new_secret


def webhook_test(*, tenant: Tenant, webhook: Webhook) -> WebhookDelivery:
    """Sends a signed `webhook.test` event now, once, and answers with what the receiver said.
    It is logged with the deliveries but neither retried nor counted in the endpoint's health."""
    event_id = uuid.uuid4()
    now = timezone.now()
    body = delivery_flow.payload_body(event_type=delivery_flow.TEST_EVENT, occurred_at=now, data={
        "webhook_id": str(webhook.pk), "webhook_name": webhook.name,
        "message": "This is a test event from Stratum. Verify its signature with your webhook secret."})
    delivery = WebhookDelivery.objects.for_tenant(tenant).create(
        tenant=tenant, webhook=webhook, event_id=event_id, event_type=delivery_flow.TEST_EVENT,
        message_id=delivery_flow.message_id_for(event_id), body=body, is_test=True, next_attempt_at=now)
    delivery_flow.delivery_attempt(tenant=tenant, delivery_id=delivery.pk)
    return WebhookDelivery.objects.for_tenant(tenant).prefetch_related("attempts").get(pk=delivery.pk)


def delivery_redeliver(*, tenant: Tenant, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queues the delivery again — same body, same webhook-id — with a fresh retry schedule."""
    webhook = delivery.webhook
    if not webhook.is_active and not delivery.is_test:
        raise Conflict("The webhook is disabled. Enable it, then redeliver.", WEBHOOK_DISABLED)
    now = timezone.now()
    if delivery.status == WebhookDelivery.Status.PENDING and delivery.lease_expires_at and \
            delivery.lease_expires_at > now:
        raise Conflict("This delivery is being attempted right now.", DELIVERY_IN_PROGRESS)
    return delivery_flow.delivery_requeue(tenant=tenant, delivery=delivery, now=now)

