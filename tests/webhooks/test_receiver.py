"""A receiver's view: signatures verified with the Standard Webhooks algorithm (the reference library and
a hand-written check), secret rotation, and at-least-once delivery when a worker dies mid-delivery."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from integrations.webhooks import delivery as flow
from integrations.webhooks.models import WebhookAttempt, WebhookDelivery
from stratum.api.models import OutboxEvent
from stratum.api.outbox import emit
from stratum.api.tenancy import tenant_scope
from tests.helpers import client_for
from tests.webhooks.conftest import Answer

EVENT = {"campaign_id": "0b9f1f7e-9d7c-4c61-8d1e-3a1f5e2b7c9d", "campaign_name": "Summer Sale",
         "reason": "autopilot_low_roas", "previous_status": "active"}


def verify_by_hand(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The algorithm as the standard states it, independent of the product's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(f"v1,{expected}", candidate)
               for candidate in headers["webhook-signature"].split(" "))


def create_webhook(client, url: str, **extra) -> dict:
    response = client.post("/api/v1/webhooks", {"name": "Campaign Status Changes", "url": url,
                                                 "events": ["campaign.paused", "campaign.activated",
                                                            "budget.changed"], **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
class TestSignature:
    def test_receiver_verifies_a_delivered_event_with_the_standard_algorithm(
            self, tenant, user, receiver, django_capture_on_commit_callbacks):
        secret = create_webhook(client_for(user), receiver.url)["secret"]
        with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
            emit(tenant, "campaign.paused", EVENT)
        (request,) = receiver.requests
        payload = StandardWebhook(secret).verify(request.body, request.headers)
        assert payload["event"] == "campaign.paused" and payload["data"] == EVENT
        assert verify_by_hand(secret, request.headers, request.body)
        # A tampered body, another secret, or a replayed old timestamp are refused by the receiver.
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(secret).verify(request.body.replace(b"Summer", b"Winter"), request.headers)
        with pytest.raises(WebhookVerificationError):
            StandardWebhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(request.body, request.headers)
        old = {**request.headers, "webhook-timestamp": str(int(request.headers["webhook-timestamp"]) - 3600)}
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(secret).verify(request.body, old)

    def test_a_chosen_plain_secret_signs_with_its_own_bytes(self, tenant, user, receiver,
                                                            django_capture_on_commit_callbacks):
        created = create_webhook(client_for(user), receiver.url, secret="your-webhook-secret")
        assert created["secret"] == "whsec_" + base64.b64encode(b"your-webhook-secret").decode()
        with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
            emit(tenant, "budget.changed", {"campaign_id": "c1", "previous_budget": 100, "new_budget": 150})
        (request,) = receiver.requests
        StandardWebhook(created["secret"]).verify(request.body, request.headers)
        # ...so a receiver that HMACs with the raw string it chose verifies too.
        signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
        raw = base64.b64encode(hmac.new(b"your-webhook-secret", signed, hashlib.sha256).digest()).decode()
        assert request.headers["webhook-signature"] == f"v1,{raw}"

    def test_the_test_endpoint_sends_a_signed_ping(self, user, receiver):
        client = client_for(user)
        created = create_webhook(client, receiver.url)
        response = client.post(f"/api/v1/webhooks/{created['id']}/test")
        assert response.status_code == 200
        body = response.json()
        assert (body["event_type"], body["status"], body["is_test"]) == ("webhook.test", "succeeded", True)
        assert body["attempts"][0]["status_code"] == 200
        (request,) = receiver.requests
        payload = StandardWebhook(created["secret"]).verify(request.body, request.headers)
        assert payload["event"] == "webhook.test" and payload["data"]["webhook_id"] == created["id"]


@pytest.mark.django_db
class TestRotation:
    def test_both_secrets_sign_for_24_hours_then_only_the_new_one(self, tenant, user, receiver, time_machine,
                                                                  django_capture_on_commit_callbacks):
        time_machine.move_to(timezone.now(), tick=False)
        client = client_for(user)
        created = create_webhook(client, receiver.url)
        rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret != created["secret"] and new_secret.startswith("whsec_")
        assert rotated.json()["previous_secret_expires_at"] == (
            timezone.now() + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
            emit(tenant, "campaign.paused", EVENT)
        request = receiver.requests[-1]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        StandardWebhook(created["secret"]).verify(request.body, request.headers)
        StandardWebhook(new_secret).verify(request.body, request.headers)

        time_machine.shift(timedelta(hours=24, seconds=1))
        with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
            emit(tenant, "campaign.activated", EVENT)
        request = receiver.requests[-1]
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        StandardWebhook(new_secret).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(created["secret"]).verify(request.body, request.headers)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: no except-clause of the product's code runs."""


@pytest.mark.django_db
class TestWorkerDiesMidDelivery:
    def test_the_event_is_delivered_later_exactly_as_queued(self, tenant, user, receiver, monkeypatch, time_machine,
                                                            django_capture_on_commit_callbacks):
        time_machine.move_to(timezone.now(), tick=False)
        secret = create_webhook(client_for(user), receiver.url)["secret"]
        real_request = flow.net.safe_request

        def dies_after_sending(*args, **kwargs):
            real_request(*args, **kwargs)  # the receiver got it; the worker dies before recording anything
            raise WorkerKilled

        monkeypatch.setattr(flow.net, "safe_request", dies_after_sending)
        with pytest.raises(WorkerKilled), django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
            event = emit(tenant, "campaign.paused", EVENT)
        monkeypatch.setattr(flow.net, "safe_request", real_request)

        delivery = WebhookDelivery.objects.for_tenant(tenant).get()
        queued_body = delivery.body
        assert delivery.status == "pending" and delivery.lease_expires_at is not None
        assert OutboxEvent.objects.for_tenant(tenant).get().status == "dispatched"  # the delivery row holds it
        assert list(WebhookAttempt.objects.for_tenant(tenant).values_list("outcome", flat=True)) == ["in_progress"]

        assert flow.webhooks_sweep()["deliveries_enqueued"] == 0  # the lease still runs
        time_machine.shift(flow.LEASE + timedelta(seconds=1))
        assert flow.webhooks_sweep()["deliveries_enqueued"] == 1

        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count, delivery.interruptions) == ("succeeded", 2, 1)
        assert list(WebhookAttempt.objects.for_tenant(tenant).order_by("number").values_list("outcome", flat=True)) \
            == ["interrupted", "succeeded"]
        first, second = receiver.requests
        assert second.body == first.body == queued_body.encode()
        assert second.headers["webhook-id"] == first.headers["webhook-id"] == f"msg_{event.event_id.hex}"
        assert json.loads(second.body) == {"event": "campaign.paused", "timestamp": json.loads(queued_body)["timestamp"],
                                           "data": EVENT}
        StandardWebhook(secret).verify(second.body, second.headers)


def _on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


def _test_database_url() -> str:
    """The configured DATABASE_URL pointed at the test database (a second process must see committed rows)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


WORKER_SCRIPT = """
import django, sys
django.setup()
from integrations.webhooks.tasks import webhook_delivery_attempt
webhook_delivery_attempt(sys.argv[1], sys.argv[2])
"""


@pytest.mark.postgres
@pytest.mark.skipif(not _on_postgres(), reason="needs PostgreSQL (a second process shares the test database)")
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_mid_request_loses_nothing(tenant, user, receiver, time_machine, monkeypatch):
    """A real process runs the delivery task and is SIGKILLed while the receiver holds the request open."""
    from stratum.api import outbox

    secret = create_webhook(client_for(user), receiver.url)["secret"]
    # The delivery must run in the worker process, not inline here: no commit hook, no enqueueing.
    monkeypatch.setattr(outbox, "_dispatch_hooks", [])
    monkeypatch.setattr(flow, "_enqueue_attempt", lambda *args, **kwargs: None)
    with tenant_scope(tenant):
        emit(tenant, "campaign.paused", EVENT)
        (delivery,) = flow.outbox_event_dispatch(tenant=tenant, event_id=OutboxEvent.objects.get().pk)
    monkeypatch.undo()
    release = threading.Event()
    receiver.answer(Answer(200, hold=release))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stratum.settings", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
           "DATABASE_URL": _test_database_url()}
    worker = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(delivery.pk), str(tenant.pk)], env=env,
                              cwd=str(Path(__file__).resolve().parents[2]))
    try:
        assert receiver.arrived.wait(30), "the worker never reached the receiver"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        release.set()
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.lease_expires_at is not None

    time_machine.move_to(delivery.lease_expires_at + timedelta(seconds=1), tick=False)
    assert flow.webhooks_sweep()["deliveries_enqueued"] == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    first, second = receiver.requests
    assert second.body == first.body == delivery.body.encode()
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    StandardWebhook(secret).verify(second.body, second.headers)
    assert list(WebhookAttempt.objects.for_tenant(tenant).order_by("number").values_list("outcome", flat=True)) \
        == ["interrupted", "succeeded"]
