"""The webhooks API as a client uses it: CRUD, validation, roles and scopes, deliveries, redelivery."""
from __future__ import annotations

import base64

import pytest
import respx
from django.utils import timezone
from httpx import Response

from integrations.webhooks.models import Webhook, WebhookDelivery
from integrations.webhooks.services import MAX_WEBHOOKS_PER_TENANT
from stratum.api.crypto import secret_decrypt
from tests.accounts.factories import UserFactory
from tests.helpers import assert_error, client_for, key_client_for
from tests.webhooks.factories import RECEIVER_URL, WebhookAttemptFactory, WebhookDeliveryFactory, WebhookFactory

pytestmark = pytest.mark.django_db

SPEC_BODY = {
    "name": "Campaign Status Changes",
    "url": "https://yourapp.com/webhooks/stratum",
    "events": ["campaign.paused", "campaign.activated", "budget.changed"],
    "secret": "your-webhook-secret",
}
WEBHOOK_KEYS = {"id", "name", "url", "events", "is_active", "status", "disabled_reason", "disabled_at", "secret_hint",
                "previous_secret_expires_at", "failing_since", "last_success_at", "last_failure_at", "created_at",
                "updated_at"}


class TestCreate:
    def test_the_spec_example_creates_a_webhook(self, api_client, tenant, user):
        response = api_client.post("/api/v1/webhooks", SPEC_BODY, format="json")
        assert response.status_code == 201
        body = response.json()
        assert set(body) == WEBHOOK_KEYS | {"secret"}
        assert (body["name"], body["url"], body["events"], body["is_active"], body["status"]) == (
            "Campaign Status Changes", "https://yourapp.com/webhooks/stratum",
            ["campaign.paused", "campaign.activated", "budget.changed"], True, "active")
        assert body["secret"] == "whsec_" + base64.b64encode(b"your-webhook-secret").decode()
        webhook = Webhook.objects.for_tenant(tenant).get()
        assert webhook.created_by == user
        assert "your-webhook-secret" not in webhook.secret_encrypted  # encrypted at rest
        assert secret_decrypt(webhook.secret_encrypted) == body["secret"]

    def test_a_secret_is_generated_and_shown_once(self, api_client):
        without_secret = {key: value for key, value in SPEC_BODY.items() if key != "secret"}
        created = api_client.post("/api/v1/webhooks", without_secret, format="json").json()
        assert created["secret"].startswith("whsec_")
        assert len(base64.b64decode(created["secret"][6:])) == 32
        assert created["secret_hint"] == created["secret"][:10]
        for url in ("/api/v1/webhooks", f"/api/v1/webhooks/{created['id']}"):
            assert created["secret"] not in api_client.get(url).content.decode()

    def test_duplicate_events_are_kept_once(self, api_client):
        body = api_client.post("/api/v1/webhooks", {**SPEC_BODY, "events": ["budget.changed", "budget.changed"]},
                               format="json").json()
        assert body["events"] == ["budget.changed"]

    @pytest.mark.parametrize("change, field", [
        ({"events": ["campaign.paused", "campaign.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"events": "campaign.paused"}, "events"),
        ({"url": "ftp://yourapp.com/x"}, "url"),
        ({"url": "https://127.0.0.1/hook"}, "url"),
        ({"url": "https://10.1.2.3/hook"}, "url"),
        ({"url": "https://169.254.169.254/latest"}, "url"),
        ({"url": "https://[::1]/hook"}, "url"),
        ({"url": "https://[::1/hook"}, "url"),  # urlsplit's own ValueError ("Invalid IPv6 URL") was a 500
        ({"url": "https://localhost/hook"}, "url"),
        ({"url": "https://user:pw@yourapp.com/hook"}, "url"),
        ({"url": "https://yourapp.com/" + "a" * 2000}, "url"),
        ({"secret": "short"}, "secret"),
        ({"secret": "whsec_not*base64"}, "secret"),
        ({"secret": "whsec_" + base64.b64encode(b"x" * 8).decode()}, "secret"),
        ({"secret": "has a space in it!!"}, "secret"),
        ({"name": ""}, "name"),
        ({"tenant": "x"}, "tenant"),
        ({"is_active": False}, "is_active"),
    ])
    def test_bad_input_is_a_422_naming_the_field(self, api_client, tenant, change, field):
        response = api_client.post("/api/v1/webhooks", {**SPEC_BODY, **change}, format="json")
        body = assert_error(response, 422, "VALIDATION_ERROR")
        assert field in body["errors"], body
        assert not Webhook.objects.for_tenant(tenant).exists()

    def test_unknown_event_names_are_listed_in_the_error(self, api_client):
        body = assert_error(api_client.post("/api/v1/webhooks", {**SPEC_BODY, "events": ["campaign.exploded"]},
                                            format="json"), 422)
        assert "campaign.exploded" in body["errors"]["events"][0]

    def test_plain_http_is_refused_outside_debug(self, api_client, settings):
        settings.DEBUG = False
        body = assert_error(api_client.post("/api/v1/webhooks", {**SPEC_BODY, "url": "http://yourapp.com/x"},
                                            format="json"), 422)
        assert body["errors"]["url"] == ["The URL must use https."]
        settings.DEBUG = True
        assert api_client.post("/api/v1/webhooks", {**SPEC_BODY, "url": "http://yourapp.com/x"},
                               format="json").status_code == 201

    def test_private_targets_are_allowed_on_premise(self, api_client, settings):
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
        assert api_client.post("/api/v1/webhooks", {**SPEC_BODY, "url": "http://10.1.2.3:8080/hook"},
                               format="json").status_code == 201

    def test_the_number_of_webhooks_is_capped(self, api_client, tenant):
        WebhookFactory.create_batch(MAX_WEBHOOKS_PER_TENANT, tenant=tenant)
        assert_error(api_client.post("/api/v1/webhooks", SPEC_BODY, format="json"), 409, "WEBHOOK_LIMIT_REACHED")


class TestReadUpdateDelete:
    def test_list_is_paginated_newest_first_with_a_constant_query_count(self, api_client, tenant,
                                                                          django_assert_max_num_queries):
        hooks = WebhookFactory.create_batch(3, tenant=tenant)
        WebhookFactory(tenant=tenant, is_active=False)
        WebhookFactory()  # another tenant's
        with django_assert_max_num_queries(8):
            response = api_client.get("/api/v1/webhooks?limit=2")
        body = response.json()
        assert (body["total"], body["pages"], body["limit"], len(body["items"])) == (4, 2, 2, 2)
        assert set(body["items"][0]) == WEBHOOK_KEYS
        active = api_client.get("/api/v1/webhooks?is_active=true").json()
        assert {item["id"] for item in active["items"]} == {str(h.pk) for h in hooks}
        assert_error(api_client.get("/api/v1/webhooks?is_active=maybe"), 422)

    def test_patch_changes_name_url_events(self, api_client, tenant):
        webhook = WebhookFactory(tenant=tenant)
        response = api_client.patch(f"/api/v1/webhooks/{webhook.pk}", {
            "name": "Budgets", "url": "https://other.example.com/in", "events": ["budget.changed"]}, format="json")
        assert response.status_code == 200
        assert (response.json()["name"], response.json()["url"], response.json()["events"]) == (
            "Budgets", "https://other.example.com/in", ["budget.changed"])
        assert_error(api_client.patch(f"/api/v1/webhooks/{webhook.pk}", {"events": ["nope"]}, format="json"), 422)
        assert_error(api_client.patch(f"/api/v1/webhooks/{webhook.pk}", {"url": "https://192.168.0.1/"},
                                      format="json"), 422)
        assert_error(api_client.patch(f"/api/v1/webhooks/{webhook.pk}", {"secret": "x" * 20}, format="json"), 422)
        webhook.refresh_from_db()
        assert webhook.events == ["budget.changed"]

    def test_disabling_fails_pending_deliveries_and_enabling_clears_the_failure_record(self, api_client, tenant):
        webhook = WebhookFactory(tenant=tenant, failing_since="2026-01-01T00:00:00Z")
        pending = WebhookDeliveryFactory(tenant=tenant, webhook=webhook, status="pending")
        off = api_client.patch(f"/api/v1/webhooks/{webhook.pk}", {"is_active": False}, format="json").json()
        assert (off["is_active"], off["status"], off["disabled_reason"]) == (False, "disabled", "manual")
        pending.refresh_from_db()
        assert (pending.status, pending.last_error) == ("failed", "The endpoint was disabled.")
        on = api_client.patch(f"/api/v1/webhooks/{webhook.pk}", {"is_active": True}, format="json").json()
        assert (on["is_active"], on["disabled_reason"], on["disabled_at"], on["failing_since"]) == (
            True, "", None, None)

    def test_delete_removes_the_endpoint_and_its_log(self, api_client, tenant):
        webhook = WebhookFactory(tenant=tenant)
        WebhookAttemptFactory(tenant=tenant, delivery=WebhookDeliveryFactory(tenant=tenant, webhook=webhook))
        assert api_client.delete(f"/api/v1/webhooks/{webhook.pk}").status_code == 204
        assert not WebhookDelivery.objects.for_tenant(tenant).exists()
        assert_error(api_client.get(f"/api/v1/webhooks/{webhook.pk}"), 404, "NOT_FOUND")

    def test_another_tenants_webhook_is_a_404(self, api_client):
        other = WebhookFactory()
        for method, path in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/test"),
                             ("post", "/rotate-secret"), ("get", "/deliveries")):
            assert_error(getattr(api_client, method)(f"/api/v1/webhooks/{other.pk}{path}", {}, format="json"), 404)
        assert Webhook.objects.unscoped().filter(pk=other.pk, is_active=True).exists()

    def test_event_catalogue(self, api_client):
        page = api_client.get("/api/v1/webhooks/events?limit=100").json()
        assert (page["total"], page["pages"]) == (10, 1)  # a Stratum page, like every list
        body = page["items"]
        assert body[0] == {"event": "campaign.created", "description": "New campaign created"}
        assert [e["event"] for e in body][-2:] == ["sync.completed", "sync.failed"] and len(body) == 10


class TestRolesAndScopes:
    @pytest.mark.parametrize("role", ["manager", "analyst", "viewer"])
    def test_only_owners_and_admins_manage_webhooks(self, tenant, role):
        webhook = WebhookFactory(tenant=tenant)
        client = client_for(UserFactory(tenant=tenant, role=role))
        assert client.get("/api/v1/webhooks").status_code == 200
        assert_error(client.post("/api/v1/webhooks", SPEC_BODY, format="json"), 403, "FORBIDDEN")
        assert_error(client.post(f"/api/v1/webhooks/{webhook.pk}/rotate-secret"), 403)
        assert_error(client.delete(f"/api/v1/webhooks/{webhook.pk}"), 403)

    def test_api_key_scopes(self, tenant, user):
        reader = key_client_for(user, scopes=["read:webhooks"])
        assert reader.get("/api/v1/webhooks").status_code == 200
        assert_error(reader.post("/api/v1/webhooks", SPEC_BODY, format="json"), 403, "FORBIDDEN")
        writer = key_client_for(user, scopes=["read:webhooks", "write:webhooks"])
        assert writer.post("/api/v1/webhooks", SPEC_BODY, format="json").status_code == 201
        assert_error(key_client_for(user, scopes=["read:campaigns"]).get("/api/v1/webhooks"), 403)

    def test_write_scope_includes_read(self, tenant, user):
        """The reference's own key shape names only `write:webhooks`: such a key lists what it creates."""
        writer = key_client_for(user, scopes=["write:webhooks"])
        created = writer.post("/api/v1/webhooks", SPEC_BODY, format="json")
        assert created.status_code == 201, created.content
        listing = writer.get("/api/v1/webhooks")
        assert listing.status_code == 200
        assert [w["id"] for w in listing.json()["items"]] == [created.json()["id"]]
        assert_error(writer.get("/api/v1/campaigns"), 403, "FORBIDDEN")


class TestRotateAndTest:
    def test_rotate_with_a_chosen_secret(self, api_client, tenant):
        webhook = WebhookFactory(tenant=tenant)
        old = secret_decrypt(webhook.secret_encrypted)
        body = api_client.post(f"/api/v1/webhooks/{webhook.pk}/rotate-secret",
                               {"secret": "a-brand-new-secret-123"}, format="json").json()
        assert body["secret"] == "whsec_" + base64.b64encode(b"a-brand-new-secret-123").decode()
        webhook.refresh_from_db()
        assert secret_decrypt(webhook.previous_secret_encrypted) == old
        assert_error(api_client.post(f"/api/v1/webhooks/{webhook.pk}/rotate-secret", {"secret": "x"}, format="json"),
                     422)
        assert_error(api_client.post(f"/api/v1/webhooks/{webhook.pk}/rotate-secret", {"other": 1}, format="json"),
                     422)

    @respx.mock
    def test_test_reports_a_failing_receiver_without_retrying(self, api_client, tenant, public_dns):
        webhook = WebhookFactory(tenant=tenant, url=RECEIVER_URL)
        route = respx.post(RECEIVER_URL).mock(return_value=Response(500, text="receiver exploded"))
        body = api_client.post(f"/api/v1/webhooks/{webhook.pk}/test").json()
        assert (body["status"], body["attempt_count"], body["next_attempt_at"]) == ("failed", 1, None)
        attempt = body["attempts"][0]
        assert (attempt["outcome"], attempt["status_code"], attempt["response_excerpt"], attempt["error"]) == (
            "failed", 500, "receiver exploded", "HTTP 500")
        assert route.call_count == 1
        assert route.calls[0].request.headers["webhook-id"] == body["message_id"]
        webhook.refresh_from_db()
        assert webhook.failing_since is None and webhook.is_active  # tests do not count towards health

    @respx.mock
    def test_a_410_on_a_test_does_not_disable(self, api_client, tenant, public_dns):
        webhook = WebhookFactory(tenant=tenant, url=RECEIVER_URL)
        respx.post(RECEIVER_URL).mock(return_value=Response(410))
        assert api_client.post(f"/api/v1/webhooks/{webhook.pk}/test").json()["status"] == "failed"
        webhook.refresh_from_db()
        assert webhook.is_active

    @respx.mock
    def test_a_long_answer_is_cut_to_an_excerpt(self, api_client, tenant, public_dns):
        webhook = WebhookFactory(tenant=tenant, url=RECEIVER_URL)
        respx.post(RECEIVER_URL).mock(return_value=Response(200, text="y" * 100_000))
        attempt = api_client.post(f"/api/v1/webhooks/{webhook.pk}/test").json()["attempts"][0]
        assert attempt["response_excerpt"] == "y" * 1000


class TestDeliveries:
    def test_log_lists_deliveries_with_attempts_in_constant_queries(self, api_client, tenant,
                                                                    django_assert_max_num_queries):
        webhook = WebhookFactory(tenant=tenant)
        for n in range(5):
            delivery = WebhookDeliveryFactory(tenant=tenant, webhook=webhook, status="failed" if n % 2 else "succeeded")
            WebhookAttemptFactory(tenant=tenant, delivery=delivery, number=1, outcome="failed", status_code=500)
            WebhookAttemptFactory(tenant=tenant, delivery=delivery, number=2)
        WebhookDeliveryFactory(tenant=tenant)  # another endpoint's
        with django_assert_max_num_queries(9):
            response = api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries?limit=3")
        body = response.json()
        assert (body["total"], body["pages"], len(body["items"])) == (5, 2, 3)
        item = body["items"][0]
        assert set(item) == {"id", "webhook_id", "event_id", "event_type", "message_id", "status", "is_test",
                             "attempt_count", "next_attempt_at", "last_status_code", "last_error", "created_at",
                             "completed_at", "payload", "attempts"}
        assert item["payload"]["event"] == "campaign.paused" and set(item["payload"]) == {"event", "timestamp", "data"}
        assert [(a["number"], a["status_code"]) for a in item["attempts"]] == [(1, 500), (2, 200)]
        assert set(item["attempts"][0]) == {"number", "outcome", "status_code", "latency_ms", "response_excerpt",
                                            "error", "started_at", "finished_at", "next_attempt_at"}
        failed = api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries?status=failed").json()
        assert failed["total"] == 2
        assert_error(api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries?status=lost"), 422)
        assert_error(api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries?event_type=x.y"), 422)
        one = api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries/{item['id']}")
        assert one.status_code == 200 and one.json()["id"] == item["id"]

    @respx.mock
    def test_redeliver_sends_the_same_message_again(self, api_client, tenant, public_dns,
                                                    django_capture_on_commit_callbacks):
        webhook = WebhookFactory(tenant=tenant, url=RECEIVER_URL)
        delivery = WebhookDeliveryFactory(tenant=tenant, webhook=webhook, status="failed", attempt_count=8,
                                          schedule_step=8)
        route = respx.post(RECEIVER_URL).mock(return_value=Response(204))
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(f"/api/v1/webhooks/{webhook.pk}/deliveries/{delivery.pk}/redeliver")
        assert response.status_code == 202
        assert response.json()["status"] == "pending"  # queued; the worker sends it after commit
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("succeeded", 9, 204)
        sent = route.calls[0].request
        assert sent.content == delivery.body.encode() and sent.headers["webhook-id"] == delivery.message_id

    def test_redeliver_refuses_a_disabled_endpoint_and_an_attempt_in_flight(self, api_client, tenant):
        webhook = WebhookFactory(tenant=tenant, is_active=False, disabled_reason="gone")
        delivery = WebhookDeliveryFactory(tenant=tenant, webhook=webhook, status="failed")
        assert_error(api_client.post(f"/api/v1/webhooks/{webhook.pk}/deliveries/{delivery.pk}/redeliver"), 409,
                     "WEBHOOK_DISABLED")
        live = WebhookFactory(tenant=tenant)
        busy = WebhookDeliveryFactory(tenant=tenant, webhook=live, status="pending",
                                      lease_expires_at=timezone.now() + timezone.timedelta(seconds=60))
        assert_error(api_client.post(f"/api/v1/webhooks/{live.pk}/deliveries/{busy.pk}/redeliver"), 409,
                     "DELIVERY_IN_PROGRESS")

    def test_a_delivery_of_another_endpoint_is_a_404(self, api_client, tenant):
        mine, theirs = WebhookFactory(tenant=tenant), WebhookDeliveryFactory(tenant=tenant)
        assert_error(api_client.get(f"/api/v1/webhooks/{mine.pk}/deliveries/{theirs.pk}"), 404)
        assert_error(api_client.post(f"/api/v1/webhooks/{mine.pk}/deliveries/{theirs.pk}/redeliver"), 404)
