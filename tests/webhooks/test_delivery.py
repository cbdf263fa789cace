"""Delivery from the outbox: fan-out, the payload, retries on the schedule, 3xx/410/Retry-After, the
three-day switch-off, the SSRF guard at delivery, and the sweeper's catch-up."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from accounts.models import Notification
from integrations.webhooks import delivery as flow
from integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from stratum.api.models import OutboxEvent
from stratum.api.outbox import emit
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.webhooks.conftest import Answer
from tests.webhooks.factories import WebhookFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
EVENT = {"campaign_id": "8d1c7f0e-3f55-4a43-9b7e-2d7b8c1d2e3f", "campaign_name": "Summer Sale",
         "reason": "autopilot_low_roas", "previous_status": "active"}


def _emit(tenant, capture, event_type="campaign.paused", data=EVENT):
    with capture(execute=True):
        with tenant_scope(tenant):
            return emit(tenant, event_type, data)


def _sweep(time_machine, seconds: float):
    time_machine.shift(timedelta(seconds=seconds))
    return flow.webhooks_sweep()


def _delivery(tenant) -> WebhookDelivery:
    return WebhookDelivery.objects.for_tenant(tenant).get()


class TestFanOut:
    def test_an_emitted_event_is_delivered_in_the_spec_shape(self, tenant, user, receiver, time_machine,
                                                             django_capture_on_commit_callbacks):
        time_machine.move_to(T0, tick=False)
        webhook = WebhookFactory(tenant=tenant, url=receiver.url, created_by=user)
        event = _emit(tenant, django_capture_on_commit_callbacks)

        assert len(receiver.requests) == 1
        request = receiver.requests[0]
        assert json.loads(request.body) == {"event": "campaign.paused", "timestamp": "2026-01-15T10:30:00Z",
                                            "data": EVENT}
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"] == f"msg_{event.event_id.hex}"
        assert request.headers["webhook-timestamp"] == str(int(T0.timestamp()))
        assert request.headers["webhook-signature"].startswith("v1,")
        event.refresh_from_db()
        assert event.status == OutboxEvent.Status.DISPATCHED and event.dispatched_at == T0
        delivery = _delivery(tenant)
        assert (delivery.webhook_id, delivery.status, delivery.attempt_count) == (webhook.pk, "succeeded", 1)
        attempt = WebhookAttempt.objects.for_tenant(tenant).get()
        assert (attempt.outcome, attempt.status_code, attempt.response_excerpt) == ("succeeded", 200, "ok")
        assert attempt.latency_ms is not None and attempt.latency_ms >= 0
        webhook.refresh_from_db()
        assert webhook.last_success_at == T0 and webhook.failing_since is None

    def test_only_active_subscribed_endpoints_of_the_same_tenant_get_it(self, tenant, receiver,
                                                                         django_capture_on_commit_callbacks):
        subscribed = WebhookFactory(tenant=tenant, url=receiver.url, events=["campaign.paused"])
        WebhookFactory(tenant=tenant, url=receiver.url, events=["budget.changed"])
        WebhookFactory(tenant=tenant, url=receiver.url, events=["campaign.paused"], is_active=False)
        WebhookFactory(tenant=TenantFactory(), url=receiver.url, events=["campaign.paused"])
        _emit(tenant, django_capture_on_commit_callbacks)
        assert len(receiver.requests) == 1
        assert list(WebhookDelivery.objects.unscoped().values_list("webhook_id", flat=True)) == [subscribed.pk]

    def test_dispatch_is_idempotent(self, tenant, user, receiver):
        WebhookFactory(tenant=tenant, url=receiver.url)
        with tenant_scope(tenant):
            event = emit(tenant, "campaign.paused", EVENT)
            first = flow.outbox_event_dispatch(tenant=tenant, event_id=event.pk)
            second = flow.outbox_event_dispatch(tenant=tenant, event_id=event.pk)
        assert len(first) == 1 and second == []
        assert WebhookDelivery.objects.for_tenant(tenant).count() == 1
        assert Notification.objects.for_tenant(tenant).filter(user=user).count() == 1

    def test_another_tenants_event_id_is_ignored(self, tenant, receiver):
        other = TenantFactory()
        WebhookFactory(tenant=tenant, url=receiver.url)
        with tenant_scope(other):
            event = emit(other, "campaign.paused", EVENT)
        with tenant_scope(tenant):
            assert flow.outbox_event_dispatch(tenant=tenant, event_id=event.pk) == []
        assert OutboxEvent.objects.unscoped().get(pk=event.pk).status == "pending"

    def test_events_emitted_while_no_worker_ran_are_dispatched_by_the_sweeper(self, tenant, receiver, time_machine):
        time_machine.move_to(T0, tick=False)
        WebhookFactory(tenant=tenant, url=receiver.url)
        with tenant_scope(tenant):
            events = [emit(tenant, "campaign.paused", {**EVENT, "n": n}) for n in range(3)]  # no commit hook ran
        assert flow.webhooks_sweep() == {"outbox_dispatched": 0, "deliveries_enqueued": 0}  # too fresh
        result = _sweep(time_machine, 31)
        assert result == {"outbox_dispatched": 3, "deliveries_enqueued": 3}
        assert [json.loads(r.body)["data"]["n"] for r in receiver.requests] == [0, 1, 2]
        assert {r.headers["webhook-id"] for r in receiver.requests} == {f"msg_{e.event_id.hex}" for e in events}
        assert not OutboxEvent.objects.unscoped().filter(status="pending").exists()

    def test_one_bad_row_does_not_hold_up_the_batch(self, tenant, receiver, time_machine, monkeypatch):
        time_machine.move_to(T0, tick=False)
        WebhookFactory(tenant=tenant, url=receiver.url)
        with tenant_scope(tenant):
            for n in range(4):
                emit(tenant, "campaign.paused", {**EVENT, "n": n})
        real_fanout = flow.notification_event_fanout

        def fanout(**kwargs):
            if kwargs["data"].get("n") == 2:
                raise RuntimeError("a row no code can handle")
            return real_fanout(**kwargs)

        monkeypatch.setattr(flow, "notification_event_fanout", fanout)
        assert _sweep(time_machine, 31)["outbox_dispatched"] == 3
        pending = OutboxEvent.objects.for_tenant(tenant).filter(status="pending")
        assert [e.data["n"] for e in pending] == [2]  # retried on the next sweep, logged meanwhile
        assert sorted(json.loads(r.body)["data"]["n"] for r in receiver.requests) == [0, 1, 3]


class TestRetries:
    def test_failures_follow_the_schedule_then_give_up(self, tenant, receiver, time_machine,
                                                       django_capture_on_commit_callbacks):
        time_machine.move_to(T0, tick=False)
        receiver.answer(*[Answer(500, b"boom")] * 8)
        WebhookFactory(tenant=tenant, url=receiver.url)
        _emit(tenant, django_capture_on_commit_callbacks)
        gaps = []
        delivery = _delivery(tenant)
        while delivery.status == "pending":
            gap = (delivery.next_attempt_at - flow.timezone.now()).total_seconds()
            gaps.append(gap)
            assert flow.webhooks_sweep()["deliveries_enqueued"] == 0  # not due yet
            _sweep(time_machine, gap)
            delivery.refresh_from_db()
        assert gaps == [5, 300, 1800, 7200, 18000, 36000, 36000]
        assert len(receiver.requests) == 8
        assert delivery.status == "failed" and delivery.attempt_count == 8
        assert delivery.last_error.startswith("Gave up after 8 failed attempts")
        attempts = list(WebhookAttempt.objects.for_tenant(tenant).order_by("number"))
        assert [a.number for a in attempts] == list(range(1, 9))
        assert {(a.outcome, a.status_code, a.response_excerpt) for a in attempts} == {("failed", 500, "boom")}
        assert attempts[-1].next_attempt_at is None
        # The body and the id never change between attempts; the timestamp does.
        assert len({r.body for r in receiver.requests}) == 1
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) == 8

    def test_a_redirect_is_a_failure_and_is_not_followed(self, tenant, receiver, django_capture_on_commit_callbacks):
        receiver.answer(Answer(302, b"", {"location": "http://127.0.0.1:1/elsewhere"}))
        WebhookFactory(tenant=tenant, url=receiver.url)
        _emit(tenant, django_capture_on_commit_callbacks)
        attempt = WebhookAttempt.objects.for_tenant(tenant).get()
        assert (attempt.outcome, attempt.status_code) == ("failed", 302)
        assert "not followed" in attempt.error
        assert len(receiver.requests) == 1
        assert _delivery(tenant).status == "pending"

    def test_retry_after_pushes_the_next_attempt_out(self, tenant, receiver, time_machine,
                                                     django_capture_on_commit_callbacks):
        time_machine.move_to(T0, tick=False)
        receiver.answer(Answer(503, b"busy", {"retry-after": "120"}))
        WebhookFactory(tenant=tenant, url=receiver.url)
        _emit(tenant, django_capture_on_commit_callbacks)
        delivery = _delivery(tenant)
        assert delivery.next_attempt_at == T0 + timedelta(seconds=120)  # instead of 5 s
        assert WebhookAttempt.objects.for_tenant(tenant).get().next_attempt_at == delivery.next_attempt_at

    def test_retry_after_as_an_http_date(self):
        assert flow.retry_after_seconds("Thu, 15 Jan 2026 10:35:00 GMT", now=T0) == 300
        assert flow.retry_after_seconds("soon", now=T0) is None
        assert flow.retry_after_seconds("999999", now=T0) == 24 * 3600

    def test_a_timeout_is_a_recorded_failure(self, tenant, receiver, monkeypatch, django_capture_on_commit_callbacks):
        import threading

        monkeypatch.setattr(flow, "REQUEST_TIMEOUT", 0.3)
        release = threading.Event()
        receiver.answer(Answer(200, hold=release))
        WebhookFactory(tenant=tenant, url=receiver.url)
        _emit(tenant, django_capture_on_commit_callbacks)
        release.set()
        attempt = WebhookAttempt.objects.for_tenant(tenant).get()
        assert (attempt.outcome, attempt.status_code, attempt.error) == ("failed", None, "Timed out after 0.3 s.")
        assert _delivery(tenant).status == "pending"

    def test_a_connection_error_is_a_recorded_failure(self, tenant, settings, django_capture_on_commit_callbacks):
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
        WebhookFactory(tenant=tenant, url="http://127.0.0.1:9/closed")
        _emit(tenant, django_capture_on_commit_callbacks)
        attempt = WebhookAttempt.objects.for_tenant(tenant).get()
        assert attempt.outcome == "failed" and attempt.status_code is None and "ConnectError" in attempt.error


class TestEndpointHealth:
    def test_410_disables_the_endpoint_and_fails_its_pending_deliveries(self, tenant, user, receiver,
                                                                        django_capture_on_commit_callbacks):
        webhook = WebhookFactory(tenant=tenant, url=receiver.url, created_by=user)
        receiver.answer(Answer(500), Answer(410, b"gone"))
        _emit(tenant, django_capture_on_commit_callbacks)  # fails once, stays pending
        _emit(tenant, django_capture_on_commit_callbacks, data={**EVENT, "n": 2})  # 410
        webhook.refresh_from_db()
        assert (webhook.is_active, webhook.disabled_reason) == (False, "gone")
        assert set(WebhookDelivery.objects.for_tenant(tenant).values_list("status", flat=True)) == {"failed"}
        note = Notification.objects.for_tenant(tenant).get(user=user, category="sync_alerts")
        assert note.title == f"Webhook “{webhook.name}” was disabled" and "410 Gone" in note.body
        disabled_mail = [m for m in mail.outbox if "was disabled" in m.subject]
        assert [m.to for m in disabled_mail] == [[user.email]]  # e-mail is required here, whatever the preferences
        # A disabled endpoint receives nothing more.
        _emit(tenant, django_capture_on_commit_callbacks, data={**EVENT, "n": 3})
        assert len(receiver.requests) == 2

    def test_three_days_of_failures_disable_it_and_tell_the_owner(self, tenant, user, receiver, time_machine,
                                                                  django_capture_on_commit_callbacks):
        time_machine.move_to(T0, tick=False)
        admin = UserFactory(tenant=tenant, role="admin")
        creator = UserFactory(tenant=tenant, role="manager")
        webhook = WebhookFactory(tenant=tenant, url=receiver.url, created_by=creator)
        receiver.answer(*[Answer(500)] * 20)
        _emit(tenant, django_capture_on_commit_callbacks)
        webhook.refresh_from_db()
        assert webhook.failing_since == T0 and webhook.is_active
        time_machine.shift(timedelta(days=3))
        _emit(tenant, django_capture_on_commit_callbacks, data={**EVENT, "n": 2})
        webhook.refresh_from_db()
        assert (webhook.is_active, webhook.disabled_reason, webhook.disabled_at) == (
            False, "failing", T0 + timedelta(days=3))
        notified = set(Notification.objects.for_tenant(tenant).filter(category="sync_alerts")
                       .values_list("user_id", flat=True))
        assert notified == {user.pk, admin.pk, creator.pk}

    def test_a_success_clears_the_failure_run(self, tenant, receiver, time_machine,
                                              django_capture_on_commit_callbacks):
        time_machine.move_to(T0, tick=False)
        webhook = WebhookFactory(tenant=tenant, url=receiver.url)
        receiver.answer(Answer(500))
        _emit(tenant, django_capture_on_commit_callbacks)
        _sweep(time_machine, 5)
        webhook.refresh_from_db()
        assert webhook.failing_since is None and webhook.last_failure_at == T0
        assert webhook.last_success_at == T0 + timedelta(seconds=5)


class TestSsrfAtDelivery:
    def test_a_host_that_resolves_to_a_private_address_is_refused(self, tenant, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
        from stratum.api import net

        monkeypatch.setattr(net, "resolve", lambda host, port: ["10.0.0.5"])
        WebhookFactory(tenant=tenant, url="https://rebinding.example.com/hook")
        _emit(tenant, django_capture_on_commit_callbacks)
        attempt = WebhookAttempt.objects.for_tenant(tenant).get()
        assert attempt.outcome == "failed" and attempt.status_code is None
        assert attempt.error.startswith("Refused target:") and "10.0.0.5" in attempt.error

    def test_metadata_address_literal_is_refused(self, tenant, django_capture_on_commit_callbacks):
        WebhookFactory(tenant=tenant, url="http://169.254.169.254/latest/meta-data")
        _emit(tenant, django_capture_on_commit_callbacks)
        assert WebhookAttempt.objects.for_tenant(tenant).get().error.startswith("Refused target:")


def test_an_endpoint_deleted_during_the_request_is_no_error(tenant, receiver, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    webhook = WebhookFactory(tenant=tenant, url=receiver.url)
    real_request = flow.net.safe_request

    def delete_meanwhile(*args, **kwargs):
        response = real_request(*args, **kwargs)
        Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk).delete()
        return response

    monkeypatch.setattr(flow.net, "safe_request", delete_meanwhile)
    _emit(tenant, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1
    assert not WebhookDelivery.objects.for_tenant(tenant).exists()
    assert not WebhookAttempt.objects.for_tenant(tenant).exists()


def test_an_undecryptable_secret_is_a_recorded_failure(tenant, receiver, django_capture_on_commit_callbacks):
    webhook = WebhookFactory(tenant=tenant, url=receiver.url)
    Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk).update(secret_encrypted="gAAAA-made-with-a-dropped-key")
    _emit(tenant, django_capture_on_commit_callbacks)
    attempt = WebhookAttempt.objects.for_tenant(tenant).get()
    assert attempt.outcome == "failed" and "FERNET_KEYS" in attempt.error
    assert receiver.requests == []  # nothing unsigned goes out


class TestRedeliver:
    def test_requeue_resends_the_same_body_and_id_with_a_fresh_schedule(self, tenant, receiver, time_machine,
                                                                        django_capture_on_commit_callbacks):
        time_machine.move_to(T0, tick=False)
        WebhookFactory(tenant=tenant, url=receiver.url)
        receiver.answer(*[Answer(500)] * 8)
        _emit(tenant, django_capture_on_commit_callbacks)
        delivery = _delivery(tenant)
        while delivery.status == "pending":
            _sweep(time_machine, (delivery.next_attempt_at - flow.timezone.now()).total_seconds())
            delivery.refresh_from_db()
        assert delivery.status == "failed"
        with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
            flow.delivery_requeue(tenant=tenant, delivery=delivery)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count, delivery.schedule_step) == ("succeeded", 9, 0)
        assert receiver.requests[-1].body == receiver.requests[0].body
        assert receiver.requests[-1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]

    def test_a_disabled_endpoint_fails_a_due_delivery_without_sending(self, tenant, receiver):
        webhook = WebhookFactory(tenant=tenant, url=receiver.url, is_active=False)
        with tenant_scope(tenant):
            delivery = WebhookDelivery.objects.create(
                tenant=tenant, webhook=webhook, event_type="campaign.paused", message_id="msg_x", body="{}",
                next_attempt_at=flow.timezone.now())
            assert flow.delivery_attempt(tenant=tenant, delivery_id=delivery.pk) is None
        delivery.refresh_from_db()
        assert (delivery.status, delivery.last_error) == ("failed", "The endpoint is disabled.")
        assert receiver.requests == []
        assert Webhook.objects.for_tenant(tenant).get().disabled_reason == ""


def test_the_dispatcher_and_the_periodic_jobs_are_registered():
    from accounts.notifications import _channels
    from stratum.api.outbox import _dispatch_hooks
    from stratum.celery import app

    assert flow.outbox_dispatch_hook in _dispatch_hooks
    assert set(_channels) >= {"email", "slack"}
    schedule = app.conf.beat_schedule
    assert schedule["webhooks.sweep"]["task"] == "integrations.webhooks.tasks.webhooks_sweep"
    assert schedule["webhooks.sweep"]["schedule"] == 30.0
    assert schedule["analytics.weekly_digests"]["task"] == "analytics.tasks.weekly_digests"
    assert {"integrations.webhooks.tasks.webhooks_sweep", "analytics.tasks.weekly_digests",
            "integrations.webhooks.tasks.webhook_delivery_attempt"} <= set(app.tasks)


def test_a_broker_outage_never_fails_the_emitter(tenant, monkeypatch, django_capture_on_commit_callbacks):
    from integrations.webhooks import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.outbox_event_dispatch, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        event = emit(tenant, "campaign.paused", EVENT)
    assert OutboxEvent.objects.for_tenant(tenant).get(pk=event.pk).status == "pending"  # the sweeper's job now
