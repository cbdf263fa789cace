"""Applying Stripe objects (Subscription, Invoice, Checkout Session) to our records, and the rule that the
tenant's tier follows its Stripe subscription.

Used by the webhook handlers and by the services that change a subscription through the API (which apply
Stripe's answer at once instead of waiting for the webhook). Every function is idempotent.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import Tenant
from stratum.api.tenancy import tenant_scope

from .models import ENTITLED_STATUSES, BillingCustomer, Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from .plans import DEFAULT_PLAN, TIERS, BillingPeriod, plan_for_price

logger = logging.getLogger("stratum.billing")

# Stripe's zero-decimal currencies: amounts are already in major units.
ZERO_DECIMAL_CURRENCIES = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                           "XAF", "XOF", "XPF"}
FINAL_INVOICE_STATUSES = ("paid", "void", "uncollectible")


class Unmappable(Exception):
    """A Stripe object we cannot attribute (no known tenant, or a price that is none of our plans)."""


def from_timestamp(value: Any) -> dt.datetime | None:
    if value in (None, "", 0):
        return None
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)


def to_major(amount: Any, currency: str) -> Decimal:
    if amount in (None, ""):
        return Decimal("0")
    value = Decimal(int(amount))
    return value if currency.upper() in ZERO_DECIMAL_CURRENCIES else (value / 100).quantize(Decimal("0.01"))


def stripe_id(value: Any) -> str | None:
    """Stripe fields are either an id or, when expanded, the object itself."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _tenant_by_id(raw: Any) -> Tenant | None:
    try:
        return Tenant.objects.filter(pk=uuid.UUID(str(raw))).first() if raw else None
    except ValueError:
        return None


def tenant_for(*, customer_id: str | None, tenant_id: Any = None, subscription_id: str | None = None) -> Tenant:
    """Our record of the Stripe customer first, then our own metadata, then a known subscription id."""
    if customer_id:
        customer = BillingCustomer.objects.unscoped().select_related("tenant").filter(
            stripe_customer_id=customer_id).first()
        if customer is not None:
            return customer.tenant
    tenant = _tenant_by_id(tenant_id)
    if tenant is not None:
        return tenant
    if subscription_id:
        subscription = Subscription.objects.unscoped().select_related("tenant").filter(
            stripe_subscription_id=subscription_id).first()
        if subscription is not None:
            return subscription.tenant
    raise Unmappable(f"no tenant for customer {customer_id or '-'}")


def customer_remember(*, tenant: Tenant, customer_id: str, email: str = "") -> BillingCustomer:
    existing = BillingCustomer.objects.for_tenant(tenant).first()
    if existing is not None:
        return existing
    customer, _ = BillingCustomer.objects.unscoped().get_or_create(
        stripe_customer_id=customer_id, defaults={"tenant": tenant, "email": email[:254]})
    return customer


def _plan_and_period(*, price_id: str | None, metadata: dict) -> tuple[str, str]:
    mapped = plan_for_price(price_id)
    if mapped is not None:
        return mapped
    plan, period = metadata.get("plan"), metadata.get("billing_period")
    if plan in TIERS and period in BillingPeriod.values:
        return plan, period
    raise Unmappable(f"price {price_id or '-'} is none of the configured plan prices")


def subscription_apply(*, obj: dict, event_created: dt.datetime | None = None) -> Subscription:
    """Upserts a Stripe Subscription object and lets the tenant's tier follow it."""
    metadata = obj.get("metadata") or {}
    customer_id = stripe_id(obj.get("customer"))
    tenant = tenant_for(customer_id=customer_id, tenant_id=metadata.get("tenant_id"), subscription_id=obj.get("id"))
    items = ((obj.get("items") or {}).get("data") or [{}])
    item = items[0] or {}
    price = item.get("price") or obj.get("plan") or {}
    plan, period = _plan_and_period(price_id=price.get("id"), metadata=metadata)
    currency = (price.get("currency") or obj.get("currency") or "usd").upper()
    quantity = int(item.get("quantity") or obj.get("quantity") or 1)
    status = obj.get("status") if obj.get("status") in SubscriptionStatus.values else "incomplete"
    fields = {
        "stripe_customer_id": customer_id or "",
        "stripe_price_id": price.get("id") or "",
        "plan": plan,
        "billing_period": period,
        "status": status,
        "amount": to_major((price.get("unit_amount") or 0) * quantity, currency),
        "currency": currency,
        "started_at": from_timestamp(obj.get("start_date") or obj.get("created")),
        # API versions since 2025-03-31 carry the period on the item, older ones on the subscription.
        "current_period_start": from_timestamp(obj.get("current_period_start") or item.get("current_period_start")),
        "current_period_end": from_timestamp(obj.get("current_period_end") or item.get("current_period_end")),
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "canceled_at": from_timestamp(obj.get("canceled_at")),
        "ended_at": from_timestamp(obj.get("ended_at")),
    }
    with transaction.atomic(), tenant_scope(tenant):
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one tier decision at a time
        if customer_id:
            customer_remember(tenant=tenant, customer_id=customer_id)
        subscription = Subscription.objects.unscoped().filter(stripe_subscription_id=obj["id"]).first()
        if subscription is not None and subscription.tenant_id != tenant.pk:
            raise Unmappable(f"subscription {obj['id']} belongs to another tenant")
        stale = (subscription is not None and event_created is not None and subscription.stripe_updated_at is not None
                 and event_created < subscription.stripe_updated_at)
        if stale:
            logger.info("stripe: older event for %s not applied", obj["id"])
            return subscription
        if subscription is None:
            subscription = Subscription(tenant=tenant, stripe_subscription_id=obj["id"])
        for name, value in fields.items():
            setattr(subscription, name, value)
        if event_created is not None:
            subscription.stripe_updated_at = event_created
        subscription.save()
        tenant_plan_follow(tenant=tenant)
    return subscription


def tenant_plan_follow(*, tenant: Tenant) -> str:
    """The tier of the newest entitled Stripe subscription; the default plan once none is entitled.

    A tenant that never had a Stripe subscription keeps the plan staff gave it.
    """
    subscriptions = Subscription.objects.for_tenant(tenant)
    entitled = subscriptions.filter(status__in=ENTITLED_STATUSES).order_by("-started_at", "-created_at").first()
    if entitled is not None:
        plan = entitled.plan
    elif subscriptions.exists():
        plan = DEFAULT_PLAN
    else:
        return tenant.plan
    if tenant.plan != plan:
        logger.info("tenant %s plan %s -> %s (Stripe)", tenant.pk, tenant.plan, plan)
        Tenant.objects.filter(pk=tenant.pk).update(plan=plan)
        tenant.plan = plan
    return plan


def _invoice_subscription_id(obj: dict) -> str | None:
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    return stripe_id(obj.get("subscription")) or stripe_id(parent.get("subscription"))


def invoice_apply(*, obj: dict) -> Invoice:
    """Upserts a Stripe Invoice object. A final status (paid, void, uncollectible) is never reopened."""
    subscription_id = _invoice_subscription_id(obj)
    details = (obj.get("parent") or {}).get("subscription_details") or obj.get("subscription_details") or {}
    tenant = tenant_for(customer_id=stripe_id(obj.get("customer")), tenant_id=(details.get("metadata") or {}).get(
        "tenant_id"), subscription_id=subscription_id)
    currency = (obj.get("currency") or "usd").upper()
    lines = ((obj.get("lines") or {}).get("data") or [])
    period = (lines[0].get("period") if lines else None) or {}
    status = obj.get("status") if obj.get("status") in InvoiceStatus.values else "open"
    with transaction.atomic(), tenant_scope(tenant):
        invoice = Invoice.objects.unscoped().select_for_update().filter(stripe_invoice_id=obj["id"]).first()
        if invoice is not None and invoice.tenant_id != tenant.pk:
            raise Unmappable(f"invoice {obj['id']} belongs to another tenant")
        if invoice is None:
            invoice = Invoice(tenant=tenant, stripe_invoice_id=obj["id"])
        elif invoice.status in FINAL_INVOICE_STATUSES and status not in FINAL_INVOICE_STATUSES:
            status = invoice.status
        invoice.subscription = (Subscription.objects.for_tenant(tenant).filter(
            stripe_subscription_id=subscription_id).first() if subscription_id else None)
        invoice.number = (obj.get("number") or "")[:64]
        invoice.status = status
        invoice.amount_due = to_major(obj.get("amount_due"), currency)
        invoice.amount_paid = to_major(obj.get("amount_paid"), currency)
        invoice.currency = currency
        invoice.period_start = from_timestamp(period.get("start") or obj.get("period_start"))
        invoice.period_end = from_timestamp(period.get("end") or obj.get("period_end"))
        invoice.paid_at = from_timestamp((obj.get("status_transitions") or {}).get("paid_at")) or invoice.paid_at
        invoice.attempt_count = int(obj.get("attempt_count") or 0)
        invoice.next_payment_attempt = from_timestamp(obj.get("next_payment_attempt"))
        invoice.hosted_invoice_url = (obj.get("hosted_invoice_url") or "")[:1000]
        invoice.invoice_pdf = (obj.get("invoice_pdf") or "")[:1000]
        invoice.issued_at = from_timestamp(obj.get("created")) or invoice.issued_at or dt.datetime.now(dt.UTC)
        invoice.save()
    return invoice
