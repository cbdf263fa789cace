"""Billing records mirrored from Stripe: the customer, subscriptions, invoices, checkout sessions, and the
log of processed webhook events (one row per Stripe event id — the idempotency key).

Stripe is the source of truth; these rows are what webhooks told us, so reads (current subscription, billing
history, MRR) never call Stripe.
"""
from __future__ import annotations

from django.db import models

from stratum.api.choices import Choices
from stratum.api.tenancy import TenantOwned

from .plans import BillingPeriod, Plan

# Stripe's subscription statuses.


class SubscriptionStatus(Choices):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


class InvoiceStatus(Choices):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"


# Statuses in which the subscription's tier applies (past_due: Stripe is still retrying the payment).
ENTITLED_STATUSES = ("trialing", "active", "past_due")
# Statuses that count towards MRR.
REVENUE_STATUSES = ("trialing", "active", "past_due", "unpaid")


class BillingCustomer(TenantOwned):
    """The tenant's Stripe Customer, created at the first checkout and reused afterwards."""

    stripe_customer_id = models.CharField(max_length=255, unique=True)
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="billing_customer_one_per_tenant")]

    def __str__(self) -> str:
        return self.stripe_customer_id


class Subscription(TenantOwned):
    """A Stripe subscription. A tenant keeps its history; the current one is the newest not ended."""

    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    stripe_customer_id = models.CharField(max_length=255, db_index=True)
    stripe_price_id = models.CharField(max_length=255, blank=True)
    plan = models.CharField(max_length=20, choices=Plan.choices)
    billing_period = models.CharField(max_length=10, choices=BillingPeriod.choices)
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices, db_index=True)
    # Price of one billing period in major units (quantity included); MRR divides annual ones by 12.
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    started_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=500, blank=True)
    # `created` of the newest Stripe event applied: older events arriving late are not applied over it.
    stripe_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "status"]), models.Index(fields=["started_at", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.plan} {self.billing_period} ({self.status})"


class Invoice(TenantOwned):
    """A Stripe invoice as last reported by `invoice.*` webhooks: the billing history."""

    stripe_invoice_id = models.CharField(max_length=255, unique=True)
    subscription = models.ForeignKey(Subscription, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="invoices")
    number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, db_index=True)
    amount_due = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    next_payment_attempt = models.DateTimeField(null=True, blank=True)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    invoice_pdf = models.URLField(max_length=1000, blank=True)
    issued_at = models.DateTimeField(help_text="Stripe's `created`.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["tenant", "issued_at"])]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id


class CheckoutSession(TenantOwned):
    """A Stripe Checkout Session we opened; `checkout.session.completed` closes it."""

    class Status(Choices):
        OPEN = "open"
        COMPLETE = "complete"
        EXPIRED = "expired"

    stripe_session_id = models.CharField(max_length=255, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices)
    billing_period = models.CharField(max_length=10, choices=BillingPeriod.choices)
    status = models.CharField(max_length=10, default=Status.OPEN, choices=Status.choices)
    url = models.URLField(max_length=2000, blank=True)
    created_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.stripe_session_id


class StripeEvent(models.Model):
    """Every Stripe webhook event processed, once: the unique event id makes replays a no-op.

    Platform-level (not tenant-owned): an event may name no known tenant. Staff read it in the console.
    """

    class Outcome(Choices):
        APPLIED = "applied"
        IGNORED = "ignored"

    event_id = models.CharField(max_length=255, primary_key=True)
    event_type = models.CharField(max_length=100, db_index=True)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    note = models.CharField(max_length=500, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    payload = models.JSONField(default=dict)

    class Meta:
        verbose_name = "Stripe event"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
