"""From the outbox to the receiver: fan-out, signed attempts, the retry schedule, recovery.

At-least-once, step by step:
1. `outbox_event_dispatch()` locks a pending outbox row, writes one WebhookDelivery per subscribed
   endpoint (the body frozen), tells users (notifications) and marks the row dispatched — one
   transaction, so either all of it happened or the row is still pending and will be dispatched again.
2. `delivery_attempt()` claims a due delivery with a lease and records an in-progress attempt (commit),
   sends it, then records the outcome and the next try. A worker that dies in between leaves the lease
   to expire; the attempt is then marked interrupted and the delivery is tried again at once.
3. `webhooks_sweep()` (every 30 s, by beat) dispatches outbox rows nobody picked up (emitted while no
   worker ran, or a lost task) and enqueues every due delivery whose lease is free.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import NotificationCategory, Tenant, User
from accounts.notifications import notification_event_fanout, notification_send, tenant_admins
from stratum.api import metrics, net
from stratum.api.crypto import InvalidToken, secret_decrypt
from stratum.api.models import OutboxEvent
from stratum.api.queueing import task_enqueue
from stratum.api.tenancy import tenant_scope

from .models import Webhook, WebhookAttempt, WebhookDelivery
from .signing import signature_header

logger = logging.getLogger("stratum.webhooks")

# Delay before attempt n+1 after n failed attempts: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
REQUEST_TIMEOUT = 10.0
LEASE = timedelta(seconds=120)
MAX_INTERRUPTIONS = 5
MAX_RETRY_AFTER = 24 * 3600
DISABLE_AFTER = timedelta(days=3)
EXCERPT_CHARS = 1000
READ_BYTES = 4096
# Retries this close are handed to Celery with a countdown; later ones wait for the sweeper.
COUNTDOWN_LIMIT = 10 * 60
OUTBOX_GRACE = timedelta(seconds=30)
SWEEP_BATCH = 500
DISPATCH_CHUNK = 100
USER_AGENT = "Stratum-Webhooks/1.0"
TEST_EVENT = "webhook.test"


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload_body(*, event_type: str, occurred_at: datetime, data: dict) -> str:
    """The spec's payload `{event, timestamp, data}`, minified: these exact bytes are signed and sent."""
    return json.dumps({"event": event_type, "timestamp": format_timestamp(occurred_at), "data": data},
                      separators=(",", ":"), ensure_ascii=False)


def message_id_for(event_id: uuid.UUID) -> str:
    return f"msg_{event_id.hex}"


# --- enqueueing (a broker that is down must never break the caller: the sweeper catches up) ----

def _enqueue_attempt(delivery_id, tenant_id, *, countdown: float = 0) -> None:
    task_enqueue(name="integrations.webhooks.tasks.webhook_delivery_attempt", on_commit=False, best_effort=True,
                 kwargs={"delivery_id": str(delivery_id), "tenant_id": str(tenant_id)}, countdown=max(0, countdown))


def outbox_dispatch_hook(event_id) -> None:
    """Registered with stratum.api.outbox.on_commit_dispatch: runs after the emitting transaction commits. Never
    fails the emitter: the sweeper dispatches the row later."""
    task_enqueue(name="integrations.webhooks.tasks.outbox_event_dispatch", on_commit=False, best_effort=True,
                 kwargs={"event_id": str(event_id)})


# --- 1. fan-out ----------------------------------------------------------------------------

def outbox_event_dispatch(*, tenant: Tenant, event_id) -> list[WebhookDelivery]:
    """Idempotent: a row that is already dispatched (or belongs to another tenant) is left alone."""
    return outbox_events_dispatch(tenant=tenant, event_ids=[event_id])


def outbox_events_dispatch(*, tenant: Tenant, event_ids: list) -> list[WebhookDelivery]:
    """Fans out a batch of one tenant's pending rows in one transaction. Rows another worker holds are
    skipped (it is dispatching them); rows already dispatched are left alone."""
    with transaction.atomic():
        events = list(OutboxEvent.objects.for_tenant(tenant).select_for_update(skip_locked=True)
                      .filter(pk__in=event_ids, status=OutboxEvent.Status.PENDING).order_by("created_at"))
        if not events:
            return []
        webhooks = list(Webhook.objects.for_tenant(tenant).filter(is_active=True).order_by("created_at"))
        members = list(User.objects.filter(tenant=tenant, is_active=True))
        now = timezone.now()
        deliveries = []
        for event in events:
            body = payload_body(event_type=event.event_type, occurred_at=event.created_at, data=event.data)
            deliveries += [
                WebhookDelivery(tenant=tenant, webhook=webhook, outbox_event=event, event_id=event.event_id,
                                event_type=event.event_type, message_id=message_id_for(event.event_id), body=body,
                                next_attempt_at=now)
                for webhook in webhooks if event.event_type in (webhook.events or [])]
            notification_event_fanout(tenant=tenant, event_type=event.event_type, data=event.data,
                                      event_id=str(event.event_id), members=members)
        WebhookDelivery.objects.for_tenant(tenant).bulk_create(deliveries, batch_size=1000)
        OutboxEvent.objects.for_tenant(tenant).filter(pk__in=[e.pk for e in events]).update(
            status=OutboxEvent.Status.DISPATCHED, dispatched_at=now)
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: [_enqueue_attempt(pk, tenant.pk) for pk in ids])
    return deliveries


# --- 2. one attempt ------------------------------------------------------------------------

@dataclass
class SendResult:
    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""
    retry_after: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signing_secrets(webhook: Webhook, *, now: datetime) -> list[str]:
    secrets_in_use = [secret_decrypt(webhook.secret_encrypted)]
    if webhook.previous_secret_encrypted and webhook.previous_secret_expires_at and \
            webhook.previous_secret_expires_at > now:
        secrets_in_use.append(secret_decrypt(webhook.previous_secret_encrypted))
    return secrets_in_use


def delivery_headers(*, webhook: Webhook, delivery: WebhookDelivery, sent_at: datetime) -> dict[str, str]:
    timestamp = int(sent_at.timestamp())
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(signing_secrets(webhook, now=sent_at), message_id=delivery.message_id,
                                              timestamp=timestamp, body=delivery.body.encode()),
    }


def retry_after_seconds(value: str | None, *, now: datetime) -> int | None:
    """`Retry-After` as seconds from now (delta-seconds or an HTTP date), capped at one day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            seconds = int((parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError, OverflowError):
            return None
    return max(0, min(seconds, MAX_RETRY_AFTER))


def _send(*, webhook: Webhook, delivery: WebhookDelivery) -> SendResult:
    sent_at = timezone.now()
    try:
        headers = delivery_headers(webhook=webhook, delivery=delivery, sent_at=sent_at)
    except InvalidToken:
        return SendResult(None, 0, error="The signing secret cannot be decrypted with the configured FERNET_KEYS.")
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = net.safe_request("POST", webhook.url, content=delivery.body.encode(), headers=headers,
                                    timeout=REQUEST_TIMEOUT, max_response_bytes=READ_BYTES)
    except net.UnsafeTarget as exc:
        return SendResult(None, elapsed(), error=f"Refused target: {exc}"[:500])
    except httpx.TimeoutException:
        return SendResult(None, elapsed(), error=f"Timed out after {REQUEST_TIMEOUT:g} s.")
    except httpx.HTTPError as exc:
        return SendResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])
    result = SendResult(response.status_code, elapsed(), excerpt=response.text[:EXCERPT_CHARS],
                        retry_after=retry_after_seconds(response.headers.get("retry-after"), now=timezone.now()))
    if 300 <= response.status_code < 400:
        result.error = f"Redirect to {response.headers.get('location', '?')[:300]} not followed (3xx is a failure)."
    elif not result.succeeded:
        result.error = f"HTTP {response.status_code}"
    return result


def _claim(*, tenant: Tenant, delivery_id, now: datetime) -> tuple[WebhookDelivery, WebhookAttempt] | None:
    """Takes a due delivery for this worker (a lease) and records the attempt as in progress."""
    deliveries = WebhookDelivery.objects.for_tenant(tenant)
    with transaction.atomic():
        claimed = deliveries.filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now),
            pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now,
        ).update(lease_expires_at=now + LEASE)
        if not claimed:
            return None
        delivery = deliveries.select_related("webhook").get(pk=delivery_id)
        # An attempt still "in progress" under an expired lease belonged to a worker that died.
        interrupted = WebhookAttempt.objects.for_tenant(tenant).filter(
            delivery=delivery, outcome=WebhookAttempt.Outcome.IN_PROGRESS).update(
            outcome=WebhookAttempt.Outcome.INTERRUPTED, finished_at=now,
            error="The worker stopped during this attempt; the delivery was retried.")
        if interrupted:
            delivery.interruptions += interrupted
        endpoint_off = not delivery.webhook.is_active and not delivery.is_test  # a test ping may probe it
        if endpoint_off or delivery.interruptions >= MAX_INTERRUPTIONS:
            reason = ("The endpoint is disabled." if endpoint_off
                      else f"Stopped after {delivery.interruptions} interrupted attempts.")
            _finish(delivery, status=WebhookDelivery.Status.FAILED, now=now, error=reason)
            return None
        delivery.attempt_count += 1
        delivery.save(update_fields=["interruptions", "attempt_count"])
        attempt = WebhookAttempt.objects.create(tenant=tenant, delivery=delivery, number=delivery.attempt_count,
                                                started_at=now)
    return delivery, attempt


def _finish(delivery: WebhookDelivery, *, status: str, now: datetime, error: str = "",
            status_code: int | None = None) -> None:
    delivery.status = status
    delivery.completed_at = now if status != WebhookDelivery.Status.PENDING else None
    delivery.lease_expires_at = None
    delivery.last_error = error[:500]
    delivery.last_status_code = status_code
    if status != WebhookDelivery.Status.PENDING:
        delivery.next_attempt_at = None
    delivery.save(update_fields=["status", "completed_at", "lease_expires_at", "last_error", "last_status_code",
                                 "next_attempt_at", "interruptions", "schedule_step"])


def delivery_attempt(*, tenant: Tenant, delivery_id) -> WebhookAttempt | None:
    """One attempt of a due delivery; None when it is not due, already taken, or finished."""
    _clear_queued(delivery_id)
    claim = _claim(tenant=tenant, delivery_id=delivery_id, now=timezone.now())
    if claim is None:
        return None
    delivery, attempt = claim
    result = _send(webhook=delivery.webhook, delivery=delivery)
    return _record(tenant=tenant, delivery=delivery, attempt=attempt, result=result)


def _record(*, tenant: Tenant, delivery: WebhookDelivery, attempt: WebhookAttempt, result: SendResult) -> WebhookAttempt:
    now = timezone.now()
    webhook = delivery.webhook
    next_delay: float | None = None
    disable_reason = ""
    with transaction.atomic():
        if not WebhookDelivery.objects.for_tenant(tenant).select_for_update().filter(pk=delivery.pk).exists():
            return attempt  # the endpoint (and its log) was deleted while the request was out
        attempt.finished_at = now
        attempt.status_code = result.status_code
        attempt.latency_ms = result.latency_ms
        attempt.response_excerpt = result.excerpt
        attempt.error = result.error[:500]
        if result.succeeded:
            attempt.outcome = WebhookAttempt.Outcome.SUCCEEDED
            _finish(delivery, status=WebhookDelivery.Status.SUCCEEDED, now=now, status_code=result.status_code)
        else:
            attempt.outcome = WebhookAttempt.Outcome.FAILED
            delivery.schedule_step += 1
            if delivery.is_test:
                _finish(delivery, status=WebhookDelivery.Status.FAILED, now=now, error=result.error,
                        status_code=result.status_code)
            elif result.status_code == 410:
                disable_reason = Webhook.DisabledReason.GONE
                _finish(delivery, status=WebhookDelivery.Status.FAILED, now=now, status_code=410,
                        error="The receiver answered 410 Gone; the endpoint was disabled.")
            elif delivery.schedule_step >= MAX_ATTEMPTS:
                _finish(delivery, status=WebhookDelivery.Status.FAILED, now=now, status_code=result.status_code,
                        error=f"Gave up after {delivery.schedule_step} failed attempts. Last: {result.error}")
            else:
                next_delay = max(RETRY_SCHEDULE[delivery.schedule_step], result.retry_after or 0)
                delivery.next_attempt_at = now + timedelta(seconds=next_delay)
                attempt.next_attempt_at = delivery.next_attempt_at
                _finish(delivery, status=WebhookDelivery.Status.PENDING, now=now, error=result.error,
                        status_code=result.status_code)
        attempt.save()
        metrics.WEBHOOK_DELIVERIES.labels(
            outcome="succeeded" if result.succeeded else "retrying" if next_delay is not None else "failed").inc()
        if not delivery.is_test:
            disabled = _endpoint_health(tenant=tenant, webhook=webhook, succeeded=result.succeeded, now=now,
                                        disable_reason=disable_reason)
            if disabled:
                transaction.on_commit(lambda: _notify_disabled(tenant=tenant, webhook_id=webhook.pk))
    if next_delay is not None and next_delay <= COUNTDOWN_LIMIT:
        _enqueue_attempt(delivery.pk, tenant.pk, countdown=next_delay)
    return attempt


def _endpoint_health(*, tenant: Tenant, webhook: Webhook, succeeded: bool, now: datetime,
                     disable_reason: str) -> bool:
    """Conditional updates, so concurrent attempts neither lose a state change nor notify twice."""
    webhooks = Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk)
    if succeeded:
        webhooks.update(failing_since=None, last_success_at=now)
        return False
    webhooks.update(last_failure_at=now)
    webhooks.filter(failing_since__isnull=True).update(failing_since=now)
    if not disable_reason:
        if not webhooks.filter(is_active=True, failing_since__lte=now - DISABLE_AFTER).exists():
            return False
        disable_reason = Webhook.DisabledReason.FAILING
    return webhook_disable(tenant=tenant, webhook=webhook, reason=disable_reason, now=now)


def webhook_disable(*, tenant: Tenant, webhook: Webhook, reason: str, now: datetime | None = None) -> bool:
    """Switches an endpoint off; its pending deliveries fail (they can be redelivered once it is back on)."""
    now = now or timezone.now()
    changed = Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk, is_active=True).update(
        is_active=False, disabled_reason=reason, disabled_at=now, updated_at=now)
    if changed:
        WebhookDelivery.objects.for_tenant(tenant).filter(
            webhook_id=webhook.pk, status=WebhookDelivery.Status.PENDING, is_test=False).update(
            status=WebhookDelivery.Status.FAILED, completed_at=now, next_attempt_at=None,
            last_error="The endpoint was disabled.")
    return bool(changed)


def _notify_disabled(*, tenant: Tenant, webhook_id) -> None:
    with tenant_scope(tenant):
        webhook = Webhook.objects.for_tenant(tenant).filter(pk=webhook_id).first()
        if webhook is None:
            return
        recipients = {u.pk: u for u in tenant_admins(tenant=tenant)}
        if webhook.created_by_id:
            creator = User.objects.filter(pk=webhook.created_by_id, tenant=tenant, is_active=True).first()
            if creator is not None:
                recipients[creator.pk] = creator
        why = ("its receiver answered 410 Gone" if webhook.disabled_reason == Webhook.DisabledReason.GONE
               else "every delivery failed for 3 days")
        notification_send(
            tenant=tenant, users=recipients.values(), category=NotificationCategory.SYNC_ALERTS,
            title=f"Webhook “{webhook.name}” was disabled",
            body=f"Stratum stopped sending events to {webhook.url} because {why}. Fix the receiver, enable the "
                 "webhook again and redeliver the failed events from its delivery log.",
            data={"webhook_id": str(webhook.pk), "reason": webhook.disabled_reason},
            required_channels=("in_app", "email"))


# --- 3. the sweeper ------------------------------------------------------------------------

def _queued_key(delivery_id) -> str:
    return f"webhooks:queued:{delivery_id}"


def _mark_queued(delivery_id) -> bool:
    """False while an earlier sweep's task for this delivery still waits in the broker (no pile-up of
    duplicates behind a slow queue). The task clears the mark when it runs."""
    try:
        return cache.add(_queued_key(delivery_id), 1, timeout=int(LEASE.total_seconds()))
    except Exception:  # noqa: BLE001 - without the cache, enqueue anyway: the claim makes duplicates harmless
        return True


def _clear_queued(delivery_id) -> None:
    try:
        cache.delete(_queued_key(delivery_id))
    except Exception:  # noqa: BLE001
        pass


def webhooks_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> dict[str, int]:
    """Cross-tenant catch-up: outbox rows nobody dispatched, deliveries that are due with a free lease."""
    now = now or timezone.now()
    stale = list(OutboxEvent.objects.unscoped().filter(status=OutboxEvent.Status.PENDING,
                                                       created_at__lte=now - OUTBOX_GRACE)
                 .order_by("created_at").values_list("pk", "tenant_id")[:batch])
    tenants = Tenant.objects.in_bulk({tenant_id for _, tenant_id in stale})
    by_tenant: dict = {}
    for event_id, tenant_id in stale:
        by_tenant.setdefault(tenant_id, []).append(event_id)
    dispatched = 0
    for tenant_id, event_ids in by_tenant.items():
        tenant = tenants[tenant_id]
        with tenant_scope(tenant):
            for chunk in (event_ids[i:i + DISPATCH_CHUNK] for i in range(0, len(event_ids), DISPATCH_CHUNK)):
                try:
                    outbox_events_dispatch(tenant=tenant, event_ids=chunk)
                    dispatched += len(chunk)
                except Exception:  # noqa: BLE001 - one bad row must not hold up the others: go one by one
                    logger.exception("dispatching a batch of outbox events failed; retrying them one by one")
                    for event_id in chunk:
                        try:
                            outbox_event_dispatch(tenant=tenant, event_id=event_id)
                            dispatched += 1
                        except Exception:  # noqa: BLE001
                            logger.exception("dispatching outbox event %s failed", event_id)
    due = list(WebhookDelivery.objects.unscoped().filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now),
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now,
    ).order_by("next_attempt_at").values_list("pk", "tenant_id")[:batch])
    enqueued = 0
    for delivery_id, tenant_id in due:
        if _mark_queued(delivery_id):
            _enqueue_attempt(delivery_id, tenant_id)
            enqueued += 1
    return {"outbox_dispatched": dispatched, "deliveries_enqueued": enqueued}


# --- redelivery ----------------------------------------------------------------------------

def delivery_requeue(*, tenant: Tenant, delivery: WebhookDelivery, now: datetime | None = None) -> WebhookDelivery:
    """Back to pending with a fresh retry schedule; the body and webhook-id stay as they were queued."""
    now = now or timezone.now()
    WebhookDelivery.objects.for_tenant(tenant).filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, schedule_step=0, interruptions=0, next_attempt_at=now,
        completed_at=None, lease_expires_at=None, last_error="")
    _clear_queued(delivery.pk)
    transaction.on_commit(lambda: _enqueue_attempt(delivery.pk, tenant.pk))
    delivery.refresh_from_db()
    return delivery

