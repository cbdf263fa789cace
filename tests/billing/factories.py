import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from billing.models import BillingCustomer, CheckoutSession, Invoice, StripeEvent, Subscription
from tests.factories import TenantOwnedFactory


class BillingCustomerFactory(TenantOwnedFactory):
    class Meta:
        model = BillingCustomer

    stripe_customer_id = factory.Sequence(lambda n: f"cus_factory{n:06d}")
    email = factory.Sequence(lambda n: f"billing{n}@example.com")


class SubscriptionFactory(TenantOwnedFactory):
    class Meta:
        model = Subscription

    stripe_subscription_id = factory.Sequence(lambda n: f"sub_factory{n:06d}")
    stripe_customer_id = factory.Sequence(lambda n: f"cus_factory_s{n:06d}")
    stripe_price_id = "price_pro_m"
    plan = "professional"
    billing_period = "monthly"
    status = "active"
    amount = Decimal("499.00")
    currency = "USD"
    started_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=10))
    current_period_start = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=10))
    current_period_end = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=20))


class InvoiceFactory(TenantOwnedFactory):
    class Meta:
        model = Invoice

    stripe_invoice_id = factory.Sequence(lambda n: f"in_factory{n:06d}")
    subscription = factory.SubFactory(SubscriptionFactory, tenant=factory.SelfAttribute("..tenant"))
    number = factory.Sequence(lambda n: f"STRAT-F{n:04d}")
    status = "paid"
    amount_due = Decimal("499.00")
    amount_paid = Decimal("499.00")
    issued_at = factory.LazyFunction(timezone.now)
    paid_at = factory.LazyFunction(timezone.now)


class CheckoutSessionFactory(TenantOwnedFactory):
    class Meta:
        model = CheckoutSession

    stripe_session_id = factory.Sequence(lambda n: f"cs_factory{n:06d}")
    plan = "professional"
    billing_period = "monthly"
    url = factory.LazyAttribute(lambda o: f"https://checkout.stripe.com/c/pay/{o.stripe_session_id}")


class StripeEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StripeEvent

    event_id = factory.Sequence(lambda n: f"evt_factory{n:06d}")
    event_type = "invoice.paid"
    outcome = StripeEvent.Outcome.APPLIED
    payload = factory.LazyFunction(dict)
