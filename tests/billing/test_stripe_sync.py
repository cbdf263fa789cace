"""Applying Stripe objects directly (services): amounts, API-version differences, tier rules."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import Subscription
from billing.stripe_sync import Unmappable, invoice_apply, subscription_apply, tenant_plan_follow, to_major
from tests.accounts.factories import TenantFactory
from tests.billing.factories import BillingCustomerFactory, SubscriptionFactory

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def stripe_subscription(customer: str, **overrides) -> dict:
    obj = {"id": "sub_sync1", "object": "subscription", "customer": customer, "status": "active",
           "start_date": T0, "created": T0, "cancel_at_period_end": False, "canceled_at": None, "ended_at": None,
           "metadata": {}, "items": {"object": "list", "data": [{
               "id": "si_1", "object": "subscription_item", "quantity": 1,
               "current_period_start": T0, "current_period_end": T0 + 30 * 86400,
               "price": {"id": "price_pro_m", "object": "price", "currency": "usd", "unit_amount": 49900,
                         "recurring": {"interval": "month", "interval_count": 1}}}]}}
    obj.update(overrides)
    return obj


@pytest.fixture
def customer(stripe_settings, db):
    return BillingCustomerFactory(tenant=TenantFactory(plan="starter"))


def test_amounts_in_minor_units_and_zero_decimal_currencies():
    assert to_major(49900, "usd") == Decimal("499.00")
    assert to_major(199, "eur") == Decimal("1.99")
    assert to_major(5000, "JPY") == Decimal("5000")
    assert to_major(None, "usd") == Decimal("0")


def test_period_on_item_or_on_subscription(customer):
    applied = subscription_apply(obj=stripe_subscription(customer.stripe_customer_id))
    assert applied.current_period_end == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    older_api = stripe_subscription(customer.stripe_customer_id, current_period_start=T0,
                                    current_period_end=T0 + 7 * 86400)
    assert subscription_apply(obj=older_api).current_period_end == dt.datetime(2026, 1, 8, tzinfo=dt.UTC)
    customer.tenant.refresh_from_db()
    assert customer.tenant.plan == "professional"


def test_unknown_price_without_metadata_is_unmappable(customer):
    obj = stripe_subscription(customer.stripe_customer_id)
    obj["items"]["data"][0]["price"]["id"] = "price_someone_else"
    with pytest.raises(Unmappable):
        subscription_apply(obj=obj)
    obj["metadata"] = {"plan": "enterprise", "billing_period": "annual"}
    assert subscription_apply(obj=obj).plan == "enterprise"


def test_a_subscription_cannot_move_to_another_tenant(customer):
    subscription_apply(obj=stripe_subscription(customer.stripe_customer_id))
    other = BillingCustomerFactory(tenant=TenantFactory())
    with pytest.raises(Unmappable):
        subscription_apply(obj=stripe_subscription(other.stripe_customer_id))
    assert Subscription.objects.unscoped().get(stripe_subscription_id="sub_sync1").tenant_id == customer.tenant_id


def test_tier_follows_the_newest_entitled_subscription(db):
    tenant = TenantFactory(plan="enterprise")
    assert tenant_plan_follow(tenant=tenant) == "enterprise"  # never subscribed: staff's plan stays
    SubscriptionFactory(tenant=tenant, plan="professional", status="canceled")
    assert tenant_plan_follow(tenant=tenant) == "starter"
    SubscriptionFactory(tenant=tenant, plan="enterprise", status="trialing")
    assert tenant_plan_follow(tenant=tenant) == "enterprise"
    tenant.refresh_from_db()
    assert tenant.plan == "enterprise"


def test_invoice_from_an_older_api_version(customer):
    invoice = invoice_apply(obj={"id": "in_old", "object": "invoice", "customer": customer.stripe_customer_id,
                                 "subscription": None, "status": "open", "currency": "jpy", "amount_due": 5000,
                                 "amount_paid": 0, "created": T0, "period_start": T0, "period_end": T0,
                                 "attempt_count": 2, "next_payment_attempt": T0 + 86400})
    assert (invoice.tenant_id, invoice.amount_due, invoice.currency, invoice.attempt_count) == (
        customer.tenant_id, Decimal("5000"), "JPY", 2)
