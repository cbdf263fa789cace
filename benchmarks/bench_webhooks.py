"""Webhooks and notifications: outbox fan-out throughput, one signed delivery attempt end to end against a
local receiver, and the two logs users page through (deliveries with attempts, notifications).

Builds a throwaway tenant (slug `bench-webhooks`) with five endpoints and five users; deleted afterwards.
"""
from __future__ import annotations

import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Notification, Tenant, User
from accounts.services import tokens_for_user
from benchmarks.harness import Row, p50_ms, seconds
from integrations.webhooks import delivery as flow
from integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from integrations.webhooks.services import webhook_create
from stratum.api.models import OutboxEvent
from stratum.api.tenancy import tenant_scope

SLUG = "bench-webhooks"
EVENTS = 2000
ENDPOINTS = 5
USERS = 5
LOG_DELIVERIES = 20_000
LOG_NOTIFICATIONS = 20_000
QUIET = {"notifications": {"email": {"all": False}, "slack": {"all": False}}}


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _build() -> tuple[Tenant, User, list[Webhook]]:
    Tenant.objects.filter(slug=SLUG).delete()
    tenant = Tenant.objects.create(name="Bench webhooks", slug=SLUG, plan="enterprise")
    users = [User.objects.create_user(email=f"bench-webhooks-{n}@stratum.test", tenant=tenant, role="owner",
                                      preferences=QUIET) for n in range(USERS)]
    with tenant_scope(tenant), override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
        hooks = [webhook_create(tenant=tenant, created_by=users[0], name=f"Bench {n}", url="http://127.0.0.1:9/x",
                                events=["campaign.paused", "budget.changed"])[0] for n in range(ENDPOINTS)]
    return tenant, users[0], hooks


def _fan_out_per_second(tenant: Tenant) -> float:
    OutboxEvent.objects.for_tenant(tenant).bulk_create([
        OutboxEvent(tenant=tenant, event_type="campaign.paused",
                    data={"campaign_id": f"c{n}", "campaign_name": f"Campaign {n}", "reason": "bench"})
        for n in range(EVENTS)])
    OutboxEvent.objects.for_tenant(tenant).update(created_at=timezone.now() - dt.timedelta(minutes=1))
    with mock.patch.object(flow, "_enqueue_attempt"):  # measure the fan-out, not the sending
        elapsed = seconds(lambda: [flow.webhooks_sweep() for _ in range(EVENTS // flow.SWEEP_BATCH)])
    assert not OutboxEvent.objects.for_tenant(tenant).filter(status="pending").exists()
    return EVENTS / elapsed


def _attempt_ms(tenant: Tenant, webhook: Webhook) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk).update(url=f"http://127.0.0.1:{server.server_port}/in")
    template = WebhookDelivery.objects.for_tenant(tenant).filter(webhook=webhook).first()

    def one():
        delivery = WebhookDelivery.objects.for_tenant(tenant).create(
            tenant=tenant, webhook=webhook, event_type=template.event_type, message_id=template.message_id,
            body=template.body, next_attempt_at=timezone.now())
        assert flow.delivery_attempt(tenant=tenant, delivery_id=delivery.pk).outcome == "succeeded"

    try:
        with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
            return p50_ms(one, repeat=50)
    finally:
        server.shutdown()
        server.server_close()


def _fill_logs(tenant: Tenant, user: User, webhook: Webhook) -> None:
    template = WebhookDelivery.objects.for_tenant(tenant).filter(webhook=webhook).first()
    now = timezone.now()
    deliveries = WebhookDelivery.objects.for_tenant(tenant).bulk_create([
        WebhookDelivery(tenant=tenant, webhook=webhook, event_type="campaign.paused", message_id=f"msg_b{n}",
                        body=template.body, status="failed", attempt_count=3) for n in range(LOG_DELIVERIES)],
        batch_size=5000)
    WebhookAttempt.objects.for_tenant(tenant).bulk_create([
        WebhookAttempt(tenant=tenant, delivery=d, number=k, outcome="failed", started_at=now, status_code=500,
                       latency_ms=12, response_excerpt="boom") for d in deliveries for k in (1, 2, 3)],
        batch_size=5000)
    Notification.objects.for_tenant(tenant).bulk_create([
        Notification(tenant=tenant, user=user, category="campaign_alerts", title=f"Campaign paused: {n}",
                     read_at=None if n % 3 else now) for n in range(LOG_NOTIFICATIONS)], batch_size=5000)


def _get_ms(client, url: str) -> float:
    def call():
        response = client.get(url)
        assert response.status_code == 200, response.content[:200]
    return p50_ms(call)


def run() -> list[Row]:
    from django.test import Client

    tenant, user, hooks = _build()
    try:
        with tenant_scope(tenant):
            fan_out = _fan_out_per_second(tenant)
            attempt = _attempt_ms(tenant, hooks[0])
            _fill_logs(tenant, user, hooks[1])
        client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user=user)['access_token']}")
        with override_settings(RATELIMIT_ENABLED=False):
            deliveries = _get_ms(client, f"/api/v1/webhooks/{hooks[1].pk}/deliveries?limit=50&status=failed")
            notifications = _get_ms(client, "/api/v1/notifications?unread_only=true&limit=20&page=50")
    finally:
        Tenant.objects.filter(slug=SLUG).delete()
    return [
        Row(f"outbox fan-out ({ENDPOINTS} endpoints, {USERS} users per event)", fan_out, "events/s",
            target=">= 200 events/s", met=fan_out >= 200),
        Row("one signed delivery attempt to a local receiver (claim, sign, POST, record)", attempt, "ms p50",
            target="<= 50 ms", met=attempt <= 50),
        Row(f"GET webhooks/{{id}}/deliveries, 50 of {LOG_DELIVERIES:,} with 3 attempts each", deliveries, "ms p50",
            target="<= 150 ms", met=deliveries <= 150),
        Row(f"GET notifications?unread_only, page 50 of {LOG_NOTIFICATIONS:,}", notifications, "ms p50",
            target="<= 100 ms", met=notifications <= 100),
    ]
