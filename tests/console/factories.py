"""Data for the console tests: a platform with figures in every corner of the overview and a problem of each kind
for the operations panel."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from cdp.services.ingested import ingested_rebuild
from tests.accounts.factories import OutboxEventFactory, TenantFactory, UserFactory
from tests.billing.factories import SubscriptionFactory
from tests.campaigns.factories import AdAccountFactory, AdAccountSyncRunFactory, CampaignDailyMetricFactory
from tests.cdp.factories import AudienceFactory, AudienceSyncRunFactory, EventFactory
from tests.integrations.factories import ConnectionFactory, CrmSyncRunFactory
from tests.trust.factories import AutopilotActionFactory, CircuitBreakerFactory
from tests.webhooks.factories import WebhookDeliveryFactory, WebhookFactory

STAFF_EMAIL, STAFF_PASSWORD = "console@stratum.test", "Console-Pass-2026!"


def staff_user() -> User:
    return User.objects.create_superuser(email=STAFF_EMAIL, password=STAFF_PASSWORD)


def platform_seed() -> dict:
    """Three tenants on three plans, one suspended; subscriptions in two currencies; events and spend this month."""
    today = timezone.now().date()
    acme = TenantFactory(name="Acme Ads", slug="acme-ads", plan="starter")
    globex = TenantFactory(name="Globex", slug="globex", plan="professional")
    initech = TenantFactory(name="Initech", slug="initech", plan="enterprise", status="suspended")
    owner = UserFactory(tenant=acme, email="owner@acme.test", role="owner")
    UserFactory(tenant=globex, email="owner@globex.test", role="owner")
    User.objects.filter(pk=owner.pk).update(last_login=timezone.now())
    SubscriptionFactory(tenant=globex, plan="professional", amount=Decimal("499.00"), currency="USD")
    SubscriptionFactory(tenant=initech, plan="enterprise", billing_period="annual", amount=Decimal("12000.00"),
                        currency="EUR")
    EventFactory.create_batch(3, tenant=acme)
    EventFactory(tenant=globex)
    ingested_rebuild()  # the factory writes events around ingestion: count them as the backfill does
    account = AdAccountFactory(tenant=globex, currency="USD")
    CampaignDailyMetricFactory(tenant=globex, campaign__ad_account=account, date=today, spend=Decimal("120.50"))
    CampaignDailyMetricFactory(tenant=globex, campaign__ad_account=account, date=today - dt.timedelta(days=1),
                               spend=Decimal("79.50"))
    return {"acme": acme, "globex": globex, "initech": initech, "owner": owner}


def problems_seed(tenant) -> dict:
    """One of each problem the operations panel counts, all in `tenant`."""
    connection = ConnectionFactory(tenant=tenant, provider="hubspot")
    crm_run = CrmSyncRunFactory(tenant=tenant, connection=connection, status="failed", error="HubSpot said 401")
    audience = AudienceFactory(tenant=tenant, name="Lapsed buyers", status="failed")
    audience_run = AudienceSyncRunFactory(tenant=tenant, audience=audience, status="failed", error="Token expired")
    account = AdAccountFactory(tenant=tenant, name="Main account", last_sync_error="Rate limited")
    ad_run = AdAccountSyncRunFactory(tenant=tenant, ad_account=account, status="failed",
                                     error_message="Rate limited")
    failing = WebhookFactory(tenant=tenant, name="Failing hook", failing_since=timezone.now())
    WebhookFactory(tenant=tenant, name="Disabled hook", is_active=False, disabled_reason="failing",
                   disabled_at=timezone.now())
    delivery = WebhookDeliveryFactory(tenant=tenant, webhook=failing, status="failed", attempt_count=8,
                                      last_status_code=500)
    OutboxEventFactory(tenant=tenant, status="pending")
    AutopilotActionFactory(tenant=tenant, status="pending")
    CircuitBreakerFactory(tenant=tenant, state="open")
    return {"crm_run": crm_run, "audience_run": audience_run, "ad_run": ad_run, "delivery": delivery,
            "webhook": failing}


def expected_figures(body: dict) -> dict[str, str]:
    """The figures the console's overview shows, by their data-figure name, as the API's answer has them."""
    return {name: str(value) for name, value in {
        "tenants.total": body["tenants"]["total"], "tenants.active": body["tenants"]["active"],
        "tenants.suspended": body["tenants"]["suspended"], "tenants.new": body["tenants"]["new"],
        **{f"tenants.by_plan.{plan}": n for plan, n in body["tenants"]["by_plan"].items()},
        "subscriptions.active": body["subscriptions"]["active"],
        **{f"mrr.{c}": v for c, v in body["mrr"].items()}, **{f"arr.{c}": v for c, v in body["arr"].items()},
        "users.total": body["users"]["total"], "users.active": body["users"]["active"],
        "events_ingested": body["events_ingested"],
        **{f"ad_spend_managed.{c}": v for c, v in body["ad_spend_managed"].items()},
    }.items()}
