"""Staff console for billing: Stripe's records are read-only mirrors (Stripe is the source of truth)."""
from django.contrib import admin

from stratum.api.admin_base import ReadOnlyAdmin

from .models import BillingCustomer, CheckoutSession, Invoice, StripeEvent, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "plan", "billing_period", "status", "amount", "currency", "current_period_end",
                    "cancel_at_period_end", "started_at", "ended_at")
    list_filter = ("plan", "billing_period", "status", "cancel_at_period_end")
    search_fields = ("stripe_subscription_id", "stripe_customer_id", "tenant__name", "tenant__slug")
    date_hierarchy = "created_at"


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ("number", "tenant", "status", "amount_due", "amount_paid", "currency", "issued_at", "paid_at",
                    "attempt_count")
    list_filter = ("status", "currency")
    search_fields = ("number", "stripe_invoice_id", "tenant__name", "tenant__slug")
    date_hierarchy = "issued_at"


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdmin):
    list_display = ("stripe_session_id", "tenant", "plan", "billing_period", "status", "created_by", "created_at",
                    "completed_at")
    list_filter = ("status", "plan", "billing_period")
    search_fields = ("stripe_session_id", "tenant__name", "created_by__email")
    list_select_related = ("tenant", "created_by")


@admin.register(BillingCustomer)
class BillingCustomerAdmin(ReadOnlyAdmin):
    list_display = ("stripe_customer_id", "tenant", "email", "created_at")
    list_filter = ("created_at",)
    search_fields = ("stripe_customer_id", "email", "tenant__name", "tenant__slug")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "outcome", "tenant", "livemode", "stripe_created_at", "received_at")
    list_filter = ("outcome", "event_type", "livemode")
    search_fields = ("event_id", "event_type", "note", "tenant__name")
    date_hierarchy = "received_at"
