"""Subscription & payments against a Stripe-shaped fake: checkout, webhooks, plan follow-up, cancel, history."""
from __future__ import annotations

import json
import time

import pytest
from django.core import mail

from billing.models import BillingCustomer, CheckoutSession, Invoice, StripeEvent, Subscription
from tests.accounts.factories import TenantFactory, UserFactory
from tests.billing.factories import BillingCustomerFactory, InvoiceFactory, SubscriptionFactory
from tests.billing.fake_stripe import sign
from tests.helpers import assert_error, client_for


@pytest.fixture
def starter(db):
    tenant = TenantFactory(plan="starter", name="Acme Ads")
    owner = UserFactory(tenant=tenant, role="owner", email="owner@acme.test")
    return tenant, owner, client_for(owner)


def checkout(client, plan="professional", period="monthly", **extra):
    return client.post("/api/v1/payments/checkout", {"plan": plan, "billing_period": period, **extra}, format="json")


class TestCheckoutRoundTrip:
    def test_checkout_completed_upgrades_tier_and_unlocks_features(self, starter, stripe_fake, deliver):
        tenant, owner, client = starter
        assert client.get("/api/v1/features").json()["features"]["autopilot"] is False
        assert client.get("/api/v1/users/me").headers["X-RateLimit-Limit"] == "60"

        response = checkout(client)
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["mode"] == "checkout" and body["plan"] == "professional" and body["billing_period"] == "monthly"
        assert body["url"] == f"https://checkout.stripe.com/c/pay/{body['session_id']}"
        # What Stripe was asked: a subscription-mode session for our tenant's customer at the configured price.
        method, path, params = stripe_fake.requests[-1]
        assert (method, path) == ("POST", "/v1/checkout/sessions")
        assert params["mode"] == "subscription" and params["line_items[0][price]"] == "price_pro_m"
        assert params["client_reference_id"] == str(tenant.pk)
        assert params["success_url"] == "https://app.stratum.test/billing/success?session_id={CHECKOUT_SESSION_ID}"
        assert params["cancel_url"] == "https://app.stratum.test/billing/cancel"
        assert params["subscription_data[metadata][plan]"] == "professional"
        customer = BillingCustomer.objects.for_tenant(tenant).get()
        assert stripe_fake.customers[customer.stripe_customer_id]["email"] == "owner@acme.test"
        assert CheckoutSession.objects.for_tenant(tenant).get().status == "open"
        tenant.refresh_from_db()
        assert tenant.plan == "starter"  # nothing changes before Stripe says the customer paid

        session = stripe_fake.pay_checkout(body["session_id"])
        response = deliver(stripe_fake.event("checkout.session.completed", session))
        assert response.status_code == 200, response.content
        assert response.json()["outcome"] == "applied"

        tenant.refresh_from_db()
        assert tenant.plan == "professional"
        subscription = Subscription.objects.for_tenant(tenant).get()
        assert (subscription.status, subscription.billing_period, str(subscription.amount)) == ("active", "monthly",
                                                                                              "499.00")
        assert CheckoutSession.objects.for_tenant(tenant).get().status == "complete"
        features = client.get("/api/v1/features").json()
        assert features["tier"] == "professional"
        assert features["features"]["autopilot"] is True and features["features"]["audience_sync"] is True
        assert features["limits"] == {"max_ad_accounts": 15, "max_users": 10, "max_segments": 50, "max_event_retention_days": 730}
        assert client.get("/api/v1/users/me").headers["X-RateLimit-Limit"] == "300"

        current = client.get("/api/v1/subscription").json()
        assert current["tier"] == "professional"
        assert current["subscription"]["status"] == "active"
        assert current["subscription"]["amount"] == 499.0
        assert current["usage"]["max_users"] == 1

    def test_second_checkout_reuses_the_customer(self, starter, stripe_fake):
        tenant, _, client = starter
        assert checkout(client).status_code == 201
        assert checkout(client, "enterprise", "annual").status_code == 201
        assert len(stripe_fake.customers) == 1
        assert [p for m, path, p in stripe_fake.requests if path == "/v1/customers"].__len__() == 1
        assert stripe_fake.requests[-1][2]["line_items[0][price]"] == "price_ent_y"

    def test_paying_tenant_changes_plan_in_place(self, starter, stripe_fake, deliver):
        tenant, _, client = starter
        session = stripe_fake.pay_checkout(checkout(client).json()["session_id"])
        deliver(stripe_fake.event("checkout.session.completed", session))
        response = checkout(client, "enterprise", "annual")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["mode"] == "subscription_update" and body["url"] is None
        assert body["subscription"]["plan"] == "enterprise" and body["subscription"]["amount"] == 19990.0
        tenant.refresh_from_db()
        assert tenant.plan == "enterprise"
        assert Subscription.objects.for_tenant(tenant).count() == 1
        assert_error(checkout(client, "enterprise", "annual"), 409, "ALREADY_SUBSCRIBED")

    @pytest.mark.parametrize("payload,field", [
        ({"plan": "gold", "billing_period": "monthly"}, "plan"),
        ({"plan": "professional", "billing_period": "weekly"}, "billing_period"),
        ({"plan": "professional", "billing_period": "monthly", "coupon": "FREE"}, "coupon"),
        ({"plan": "professional", "success_url": "https://evil.example/steal"}, "success_url"),
        ({"plan": "professional", "cancel_url": "javascript:alert(1)"}, "cancel_url"),
        ({}, "plan"),
    ])
    def test_bad_input_is_422_and_calls_nothing(self, starter, stripe_fake, payload, field):
        _, _, client = starter
        body = assert_error(client.post("/api/v1/payments/checkout", payload, format="json"), 422,
                            "VALIDATION_ERROR")
        assert field in body["errors"]
        assert stripe_fake.requests == []

    def test_only_owners_and_admins_check_out(self, starter, stripe_fake):
        tenant, _, _ = starter
        manager = client_for(UserFactory(tenant=tenant, role="manager"))
        assert_error(checkout(manager), 403, "FORBIDDEN")
        assert_error(manager.post("/api/v1/subscription/cancel", {}, format="json"), 403, "FORBIDDEN")
        assert manager.get("/api/v1/subscription").status_code == 200

    def test_stripe_refusal_is_502(self, starter, stripe_fake, settings):
        settings.STRIPE_PRICES = {**settings.STRIPE_PRICES, "professional_monthly": "price_deleted"}
        _, _, client = starter
        body = assert_error(checkout(client), 502, "PAYMENT_PROVIDER_ERROR")
        assert "price_deleted" in body["detail"]


class TestNotConfigured:
    def test_payment_endpoints_answer_503(self, starter, settings):
        settings.STRIPE_SECRET_KEY = None
        settings.STRIPE_WEBHOOK_SECRET = None
        _, _, client = starter
        assert_error(checkout(client), 503, "PAYMENTS_NOT_CONFIGURED")
        SubscriptionFactory(tenant=starter[0])
        assert_error(client.post("/api/v1/subscription/cancel", {}, format="json"), 503, "PAYMENTS_NOT_CONFIGURED")
        assert_error(client.post("/api/v1/payments/webhook", data="{}", content_type="application/json",
                                 HTTP_STRIPE_SIGNATURE="t=1,v1=x"), 503, "PAYMENTS_NOT_CONFIGURED")
        # Reads come from stored records and keep working.
        assert client.get("/api/v1/subscription").json()["payments_configured"] is False
        plans = client.get("/api/v1/subscription/plans").json()["items"]
        assert not any(price["available"] for plan in plans for price in plan["prices"])
        assert client.get("/api/v1/payments/history").status_code == 200

    def test_missing_price_is_503_naming_the_variable(self, starter, stripe_fake, settings):
        settings.STRIPE_PRICES = {**settings.STRIPE_PRICES, "starter_annual": None}
        body = assert_error(checkout(starter[2], "starter", "annual"), 503, "PAYMENTS_NOT_CONFIGURED")
        assert "STRIPE_PRICE_STARTER_ANNUAL" in body["detail"]
        plans = starter[2].get("/api/v1/subscription/plans").json()["items"]
        starter_prices = {p["billing_period"]: p["available"] for p in plans[0]["prices"]}
        assert starter_prices == {"monthly": True, "annual": False}


class TestWebhook:
    @pytest.fixture
    def paid(self, starter, stripe_fake, deliver):
        tenant, owner, client = starter
        session = stripe_fake.pay_checkout(checkout(client).json()["session_id"])
        assert deliver(stripe_fake.event("checkout.session.completed", session)).json()["outcome"] == "applied"
        return tenant, client, session["subscription"]

    def test_bad_signature_is_400_and_changes_nothing(self, paid, stripe_fake, deliver):
        tenant, _, sub_id = paid
        stripe_fake.subscriptions[sub_id]["status"] = "canceled"
        event = stripe_fake.event("customer.subscription.deleted", stripe_fake.subscriptions[sub_id])
        assert_error(deliver(event, secret="whsec_wrong"), 400, "INVALID_SIGNATURE")
        assert_error(deliver(event, signature=""), 400, "INVALID_SIGNATURE")
        assert_error(deliver(event, signature="t=abc,v1=zz"), 400, "INVALID_SIGNATURE")
        tenant.refresh_from_db()
        assert tenant.plan == "professional"
        assert not StripeEvent.objects.filter(event_id=event["id"]).exists()

    def test_stale_signature_is_400(self, paid, stripe_fake, deliver):
        tenant, _, sub_id = paid
        stripe_fake.subscriptions[sub_id]["status"] = "canceled"
        event = stripe_fake.event("customer.subscription.deleted", stripe_fake.subscriptions[sub_id])
        assert_error(deliver(event, timestamp=int(time.time()) - 301), 400, "INVALID_SIGNATURE")
        tenant.refresh_from_db()
        assert tenant.plan == "professional"
        assert deliver(event, timestamp=int(time.time()) - 290).status_code == 200  # inside the 5 minutes

    def test_tampered_body_is_400(self, paid, stripe_fake, anon_client):
        tenant, _, sub_id = paid
        payload = json.dumps(stripe_fake.event("customer.subscription.deleted", stripe_fake.subscriptions[sub_id]))
        header = sign(payload)
        response = anon_client.post("/api/v1/payments/webhook", data=payload.replace("active", "canceled"),
                                    content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert_error(response, 400, "INVALID_SIGNATURE")

    def test_replayed_event_is_200_and_applied_once(self, paid, stripe_fake, deliver,
                                                    django_capture_on_commit_callbacks):
        tenant, _, sub_id = paid
        failed = stripe_fake.invoice_for(sub_id, status="open", attempt_count=1)
        event = stripe_fake.event("invoice.payment_failed", failed)
        with django_capture_on_commit_callbacks(execute=True):
            first = deliver(event)
        assert first.status_code == 200 and first.json()["outcome"] == "applied"
        assert len(mail.outbox) == 1
        assert "payment of 499.00 USD failed" in mail.outbox[0].subject
        with django_capture_on_commit_callbacks(execute=True):
            replay = deliver(event)
        assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
        assert len(mail.outbox) == 1  # no second e-mail
        assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1

    def test_subscription_lifecycle_moves_the_tier(self, paid, stripe_fake, deliver):
        tenant, client, sub_id = paid
        subscription = stripe_fake.subscriptions[sub_id]
        subscription["status"] = "past_due"
        deliver(stripe_fake.event("customer.subscription.updated", subscription, created=stripe_fake.now + 10))
        tenant.refresh_from_db()
        assert tenant.plan == "professional"  # Stripe is still retrying: the tier stays
        subscription.update(status="canceled", ended_at=stripe_fake.now + 20, canceled_at=stripe_fake.now + 20)
        deliver(stripe_fake.event("customer.subscription.deleted", subscription, created=stripe_fake.now + 20))
        tenant.refresh_from_db()
        assert tenant.plan == "starter"
        assert_error_feature = client.get("/api/v1/features").json()
        assert assert_error_feature["features"]["autopilot"] is False
        stored = Subscription.objects.for_tenant(tenant).get()
        assert stored.status == "canceled" and stored.ended_at is not None

    def test_an_older_event_arriving_late_does_not_win(self, paid, stripe_fake, deliver):
        tenant, _, sub_id = paid
        subscription = stripe_fake.subscriptions[sub_id]
        newer = dict(subscription, status="canceled", ended_at=stripe_fake.now + 50)
        deliver(stripe_fake.event("customer.subscription.deleted", newer, created=stripe_fake.now + 50))
        older = dict(subscription, status="active")
        assert deliver(stripe_fake.event("customer.subscription.updated", older,
                                         created=stripe_fake.now + 5)).status_code == 200
        tenant.refresh_from_db()
        assert tenant.plan == "starter"
        assert Subscription.objects.for_tenant(tenant).get().status == "canceled"

    def test_subscription_created_out_of_checkout_sets_the_tier(self, starter, stripe_fake, deliver):
        tenant, _, _ = starter
        customer = BillingCustomerFactory(tenant=tenant)
        obj = {"id": "sub_sales1", "object": "subscription", "customer": customer.stripe_customer_id,
               "status": "active", "start_date": stripe_fake.now, "created": stripe_fake.now, "metadata": {},
               "cancel_at_period_end": False, "canceled_at": None, "ended_at": None,
               "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item", "quantity": 2,
                                                     "price": stripe_fake._price("price_ent_y"),
                                                     "current_period_start": stripe_fake.now,
                                                     "current_period_end": stripe_fake.now + 86400 * 365}]}}
        assert deliver(stripe_fake.event("customer.subscription.created", obj)).json()["outcome"] == "applied"
        tenant.refresh_from_db()
        assert tenant.plan == "enterprise"
        stored = Subscription.objects.for_tenant(tenant).get()
        assert (stored.billing_period, str(stored.amount)) == ("annual", "39980.00")  # quantity 2

    def test_invoice_paid_is_billing_history(self, paid, stripe_fake, deliver):
        tenant, client, sub_id = paid
        invoice = stripe_fake.invoice_for(sub_id, status="paid")
        deliver(stripe_fake.event("invoice.paid", invoice))
        items = client.get("/api/v1/payments/history").json()
        assert items["total"] == 1
        row = items["items"][0]
        assert row["number"] == invoice["number"] and row["status"] == "paid"
        assert row["amount_paid"] == 499.0 and row["currency"] == "USD"
        assert row["plan"] == "professional" and row["billing_period"] == "monthly"
        assert row["hosted_invoice_url"] == invoice["hosted_invoice_url"]
        # A late payment_failed for an invoice already paid does not reopen it.
        deliver(stripe_fake.event("invoice.payment_failed", dict(invoice, status="open")))
        assert Invoice.objects.for_tenant(tenant).get().status == "paid"

    def test_unknown_customer_and_unknown_type_are_ignored_not_retried(self, starter, stripe_fake, deliver):
        invoice = {"id": "in_x", "object": "invoice", "customer": "cus_nobody", "status": "paid", "currency": "usd",
                   "amount_due": 100, "amount_paid": 100, "created": stripe_fake.now}
        response = deliver(stripe_fake.event("invoice.paid", invoice))
        assert response.status_code == 200 and response.json()["outcome"] == "ignored"
        assert "cus_nobody" in StripeEvent.objects.get(event_id=response.json()["event_id"]).note
        response = deliver(stripe_fake.event("charge.refunded", {"id": "ch_1", "object": "charge"}))
        assert response.json()["outcome"] == "ignored"

    def test_not_json_and_not_an_event_are_400(self, stripe_settings, anon_client):
        for payload in ("not json", json.dumps(["list"]), json.dumps({"object": "event"})):
            response = anon_client.post("/api/v1/payments/webhook", data=payload, content_type="application/json",
                                        HTTP_STRIPE_SIGNATURE=sign(payload))
            assert_error(response, 400, "BAD_REQUEST")

    @pytest.mark.parametrize("envelope", [
        {"data": {"object": ["not", "an", "object"]}},
        {"data": "nothing"},
        {"created": "yesterday"},
        {"created": 10 ** 30},
    ], ids=["object-list", "data-string", "created-text", "created-overflow"])
    def test_signed_event_of_the_wrong_shape_is_400(self, paid, stripe_fake, deliver, envelope):
        tenant, _, sub_id = paid
        event = {**stripe_fake.event("customer.subscription.deleted", stripe_fake.subscriptions[sub_id]), **envelope}
        assert_error(deliver(event), 400, "BAD_REQUEST")
        assert not StripeEvent.objects.filter(event_id=event["id"]).exists()
        tenant.refresh_from_db()
        assert tenant.plan == "professional"

    def test_malformed_objects_are_ignored_not_500(self, paid, stripe_fake, deliver):
        """Signed, of a handled type, but not shaped like Stripe's object: 200 "ignored" (a 500 would make Stripe
        retry the same failure for days), nothing changed, the note says why."""
        tenant, _, sub_id = paid
        broken_subscription = dict(stripe_fake.subscriptions[sub_id], status="canceled", items="none")
        invoice_without_id = {k: v for k, v in stripe_fake.invoice_for(sub_id, status="paid").items() if k != "id"}
        cases = [("customer.subscription.deleted", broken_subscription),
                 ("invoice.paid", invoice_without_id),
                 ("invoice.payment_failed", dict(invoice_without_id, id="in_bad", amount_due="a lot"))]
        for event_type, obj in cases:
            response = deliver(stripe_fake.event(event_type, obj))
            assert response.status_code == 200, (event_type, response.content)
            assert response.json()["outcome"] == "ignored"
            note = StripeEvent.objects.get(event_id=response.json()["event_id"]).note
            assert note.startswith(f"malformed {event_type} object: "), note
        tenant.refresh_from_db()
        assert tenant.plan == "professional"
        assert Subscription.objects.for_tenant(tenant).get().status == "active"
        assert not Invoice.objects.for_tenant(tenant).exists()

    def test_an_event_not_applied_leaves_nothing_half_written(self, starter, stripe_fake, deliver):
        """checkout.session.completed remembers the customer and closes the session before it applies the
        subscription; when the subscription cannot be applied, those writes are rolled back too."""
        tenant, _, client = starter
        session = stripe_fake.pay_checkout(checkout(client).json()["session_id"])
        BillingCustomer.objects.for_tenant(tenant).delete()
        expanded = dict(stripe_fake.subscriptions[session["subscription"]], items={"data": "broken"})
        response = deliver(stripe_fake.event("checkout.session.completed", dict(session, subscription=expanded)))
        assert response.status_code == 200 and response.json()["outcome"] == "ignored"
        assert not BillingCustomer.objects.for_tenant(tenant).exists()
        assert CheckoutSession.objects.for_tenant(tenant).get().status == "open"
        tenant.refresh_from_db()
        assert tenant.plan == "starter"

    def test_webhook_needs_no_jwt_and_ignores_one(self, paid, stripe_fake, deliver, anon_client):
        tenant, _, sub_id = paid
        anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
        event = stripe_fake.event("invoice.paid", stripe_fake.invoice_for(sub_id, status="paid"))
        assert deliver(event).status_code == 200


class TestCancel:
    def test_cancel_at_period_end(self, starter, stripe_fake, deliver):
        tenant, _, client = starter
        session = stripe_fake.pay_checkout(checkout(client).json()["session_id"])
        deliver(stripe_fake.event("checkout.session.completed", session))
        response = client.post("/api/v1/subscription/cancel", {"reason": "Too expensive"}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["cancel_at_period_end"] is True and body["cancellation_reason"] == "Too expensive"
        assert body["status"] == "active"
        assert stripe_fake.subscriptions[session["subscription"]]["cancellation_details"]["comment"] == "Too expensive"
        tenant.refresh_from_db()
        assert tenant.plan == "professional"  # paid until the period ends
        again = client.post("/api/v1/subscription/cancel", {}, format="json")
        assert again.status_code == 200 and again.json()["cancel_at_period_end"] is True

    def test_nothing_to_cancel_is_409(self, starter, stripe_fake):
        assert_error(starter[2].post("/api/v1/subscription/cancel", {}, format="json"), 409,
                     "NO_ACTIVE_SUBSCRIPTION")

    def test_unknown_field_is_422(self, starter, stripe_fake):
        assert_error(starter[2].post("/api/v1/subscription/cancel", {"immediately": True}, format="json"), 422)


class TestReads:
    def test_plans_catalogue(self, starter, stripe_settings):
        body = starter[2].get("/api/v1/subscription/plans").json()
        assert body["total"] == 3 and [p["id"] for p in body["items"]] == ["starter", "professional", "enterprise"]
        pro = body["items"][1]
        assert pro["prices"] == [
            {"billing_period": "monthly", "amount": 499, "currency": "USD", "available": True},
            {"billing_period": "annual", "amount": 4990, "currency": "USD", "available": True}]
        assert pro["rate_limit"] == {"requests_per_minute": 300, "burst": 50}
        assert pro["limits"] == {"max_ad_accounts": 15, "max_users": 10, "max_segments": 50, "max_event_retention_days": 730}
        assert [p["current"] for p in body["items"]] == [True, False, False]

    def test_subscription_without_stripe(self, starter):
        body = starter[2].get("/api/v1/subscription").json()
        assert body["tier"] == "starter" and body["subscription"] is None
        assert body["limits"]["max_users"] == 3

    def test_history_is_tenant_scoped_and_paginated(self, starter, django_assert_max_num_queries):
        tenant, _, client = starter
        InvoiceFactory.create_batch(3, tenant=tenant)
        InvoiceFactory(tenant=TenantFactory())
        with django_assert_max_num_queries(8):
            body = client.get("/api/v1/payments/history?limit=2").json()
        assert (body["total"], body["pages"], len(body["items"])) == (3, 2, 2)

    def test_api_key_needs_billing_scope(self, starter, make_key_client):
        tenant, owner, _ = starter
        key = make_key_client(owner, scopes=["read:campaigns"])
        assert_error(key.get("/api/v1/subscription"), 403, "FORBIDDEN")
        assert make_key_client(owner, scopes=["read:billing"]).get("/api/v1/subscription").status_code == 200
