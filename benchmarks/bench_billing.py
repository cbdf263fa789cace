"""Billing: the superadmin overview over a platform of many tenants, and one Stripe webhook event.

Builds throwaway tenants (slug prefix `bench-billing-`), each with a subscription, an ad account with a year of
daily campaign metrics and some CDP events; everything is deleted afterwards.
"""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal

from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Tenant
from analytics.platform import platform_overview
from benchmarks.harness import Row, p50_ms
from billing.models import BillingCustomer, StripeEvent, Subscription
from campaigns.models import AdAccount, Campaign, CampaignDailyMetric
from cdp.models import Event, Profile
from cdp.services.ingested import ingested_rebuild
from stratum.api.params import DateRange

TENANTS = 200
DAYS = 365
EVENTS_PER_TENANT = 250
PREFIX = "bench-billing-"


def _build() -> list[Tenant]:
    today = timezone.now().date()
    now = timezone.now()
    tenants = Tenant.objects.bulk_create([
        Tenant(name=f"Bench {i}", slug=f"{PREFIX}{i}", plan=("starter", "professional", "enterprise")[i % 3])
        for i in range(TENANTS)])
    Subscription.objects.unscoped().bulk_create([
        Subscription(tenant=t, stripe_subscription_id=f"sub_bench_{t.pk.hex}",
                     stripe_customer_id=f"cus_bench_{t.pk.hex}",
                     plan=t.plan, billing_period="monthly" if i % 2 else "annual", status="active",
                     amount=Decimal("499"), started_at=now - dt.timedelta(days=i)) for i, t in enumerate(tenants)])
    BillingCustomer.objects.unscoped().bulk_create([
        BillingCustomer(tenant=t, stripe_customer_id=f"cus_bench_{t.pk.hex}") for t in tenants])
    accounts = AdAccount.objects.unscoped().bulk_create([
        AdAccount(tenant=t, platform="demo", external_id=f"b{i}", name="Bench") for i, t in enumerate(tenants)])
    campaigns = Campaign.objects.unscoped().bulk_create([
        Campaign(tenant=a.tenant, ad_account=a, external_id="c", name="Bench", platform="demo") for a in accounts])
    CampaignDailyMetric.objects.unscoped().bulk_create(
        [CampaignDailyMetric(tenant=c.tenant, campaign=c, date=today - dt.timedelta(days=d), spend=Decimal("12.34"))
         for c in campaigns for d in range(DAYS)], batch_size=5000)
    profiles = Profile.objects.unscoped().bulk_create([Profile(tenant=t) for t in tenants])
    Event.objects.unscoped().bulk_create(
        [Event(tenant=p.tenant, profile=p, origin_profile_id=p.pk, event_type="page_view",
               timestamp=now - dt.timedelta(hours=n), received_at=now - dt.timedelta(hours=n))
         for p in profiles for n in range(EVENTS_PER_TENANT)], batch_size=5000)
    ingested_rebuild()  # written around ingestion: the per-day ingestion counts the overview reads, as a backfill
    return tenants


def _webhook_ms(tenant: Tenant) -> float:
    import hashlib
    import hmac

    client = Client()
    secret = "whsec_bench"
    created = int(time.time())

    def deliver():
        nonlocal created
        created += 1
        obj = {"id": f"sub_bench_{tenant.pk.hex}", "object": "subscription", "customer": f"cus_bench_{tenant.pk.hex}",
               "status": "active", "start_date": created,
               "metadata": {"plan": "enterprise", "billing_period": "annual"},
               "items": {"object": "list", "data": [{"id": "si_b", "quantity": 1, "current_period_start": created,
                                                     "current_period_end": created + 86400,
                                                     "price": {"id": "price_bench", "currency": "usd",
                                                               "unit_amount": 199900}}]}}
        payload = json.dumps({"id": f"evt_bench_{uuid.uuid4().hex}", "object": "event", "created": created,
                              "type": "customer.subscription.updated", "data": {"object": obj}})
        t = int(time.time())
        signature = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
        response = client.post("/api/v1/payments/webhook", data=payload, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=f"t={t},v1={signature}")
        assert response.status_code == 200, response.content

    with override_settings(STRIPE_WEBHOOK_SECRET=secret, RATELIMIT_ENABLED=False):
        return p50_ms(deliver, repeat=30)


def run() -> list[Row]:
    tenants = _build()
    try:
        today = timezone.now().date()
        year = DateRange(today - dt.timedelta(days=364), today)
        monthly = p50_ms(lambda: platform_overview(date_range=year, interval="month"), repeat=10)
        weekly = p50_ms(lambda: platform_overview(date_range=year, interval="week"), repeat=5)
        webhook = _webhook_ms(tenants[0])
        size = f"{TENANTS} tenants, {TENANTS * DAYS} metric rows, {TENANTS * EVENTS_PER_TENANT} events"
        return [
            Row(f"superadmin overview, 365 days by month ({size})", monthly, "ms", target="< 1000 ms",
                met=monthly < 1000),
            Row("superadmin overview, 365 days by week (53 points)", weekly, "ms", target="< 2000 ms",
                met=weekly < 2000),
            Row("Stripe webhook customer.subscription.updated (verify, apply, tier)", webhook, "ms",
                target="< 100 ms", met=webhook < 100),
        ]
    finally:
        StripeEvent.objects.filter(tenant__slug__startswith=PREFIX).delete()
        Tenant.objects.filter(slug__startswith=PREFIX).delete()
