"""Demo billing: the demo tenant pays for Enterprise yearly (a subscription and two paid invoices), so the
subscription, billing history and superadmin MRR show real-looking figures. Idempotent (keyed by ids)."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone

from .models import BillingCustomer, Invoice, Subscription
from .plans import list_price


def seed(*, tenant, stdout) -> None:
    if tenant.plan not in ("starter", "professional", "enterprise"):
        return
    now = timezone.now().replace(microsecond=0)
    started = now - dt.timedelta(days=400)
    renewed = started + dt.timedelta(days=365)
    amount = list_price(tenant.plan, "annual")
    customer_id = f"cus_demo_{tenant.slug}"[:255]
    BillingCustomer.objects.for_tenant(tenant).get_or_create(
        tenant=tenant, defaults={"stripe_customer_id": customer_id, "email": f"billing@{tenant.slug}.example"})
    subscription, _ = Subscription.objects.for_tenant(tenant).update_or_create(
        stripe_subscription_id=f"sub_demo_{tenant.slug}"[:255],
        defaults={"tenant": tenant, "stripe_customer_id": customer_id, "plan": tenant.plan,
                  "billing_period": "annual", "status": "active", "amount": amount, "currency": "USD",
                  "started_at": started, "current_period_start": renewed,
                  "current_period_end": renewed + dt.timedelta(days=365)})
    for number, (start, end) in enumerate(((started, renewed), (renewed, renewed + dt.timedelta(days=365))), 1):
        Invoice.objects.for_tenant(tenant).update_or_create(
            stripe_invoice_id=f"in_demo_{tenant.slug}_{number}"[:255],
            defaults={"tenant": tenant, "subscription": subscription, "number": f"DEMO-{number:04d}",
                      "status": "paid", "amount_due": amount, "amount_paid": amount, "currency": "USD",
                      "period_start": start, "period_end": end, "issued_at": start, "paid_at": start,
                      "attempt_count": 1})
    stdout.write(f"  billing: {tenant.plan} yearly subscription, 2 paid invoices")
