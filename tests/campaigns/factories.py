import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import (
    Ad,
    AdAccount,
    AdAccountSyncRun,
    AdDailyMetric,
    Campaign,
    CampaignDailyMetric,
    CampaignMetricTotals,
    DemoPlatformChange,
)
from tests.factories import TenantOwnedFactory


class AdAccountFactory(TenantOwnedFactory):
    class Meta:
        model = AdAccount

    platform = "demo"
    external_id = factory.Sequence(lambda n: f"act_{1000 + n}")
    name = factory.Sequence(lambda n: f"Account {n}")
    currency = "USD"
    timezone = "UTC"


class CampaignFactory(TenantOwnedFactory):
    class Meta:
        model = Campaign

    ad_account = factory.SubFactory(AdAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    external_id = factory.Sequence(lambda n: f"cmp_{n}")
    name = factory.Sequence(lambda n: f"Campaign {n}")
    platform = factory.SelfAttribute("ad_account.platform")
    status = "active"
    objective = "conversions"
    budget_type = "daily"
    budget_amount = Decimal("100.00")


class AdFactory(TenantOwnedFactory):
    class Meta:
        model = Ad

    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"))
    external_id = factory.Sequence(lambda n: f"ad_{n}")
    name = factory.Sequence(lambda n: f"Ad {n}")


class CampaignDailyMetricFactory(TenantOwnedFactory):
    class Meta:
        model = CampaignDailyMetric

    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"))
    date = factory.Sequence(lambda n: datetime.date(2026, 1, 1) + datetime.timedelta(days=n))
    impressions = 10000
    clicks = 200
    spend = Decimal("100.00")
    conversions = Decimal("5")
    revenue = Decimal("400.00")
    landing_page_views = 150
    leads = 3


class CampaignMetricTotalsFactory(TenantOwnedFactory):
    """Lifetime totals are never written directly: the daily metric's insert makes them (the triggers of
    campaigns 0005), and the factory returns the row that insert left."""
    class Meta:
        model = CampaignMetricTotals

    @classmethod
    def _create(cls, model_class, *args, tenant=None, **kwargs):
        daily = CampaignDailyMetricFactory(tenant=tenant, **kwargs)
        return model_class.objects.unscoped().get(campaign_id=daily.campaign_id)


class AdDailyMetricFactory(TenantOwnedFactory):
    class Meta:
        model = AdDailyMetric

    ad = factory.SubFactory(AdFactory, tenant=factory.SelfAttribute("..tenant"))
    campaign = factory.SelfAttribute("ad.campaign")
    date = factory.Sequence(lambda n: datetime.date(2026, 1, 1) + datetime.timedelta(days=n))
    impressions = 5000
    clicks = 100
    spend = Decimal("50.00")
    conversions = Decimal("2")
    revenue = Decimal("200.00")
    landing_page_views = 80
    leads = 1


class AdAccountSyncRunFactory(TenantOwnedFactory):
    class Meta:
        model = AdAccountSyncRun

    ad_account = factory.SubFactory(AdAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    trigger = "schedule"
    status = "ok"
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)


class DemoPlatformChangeFactory(TenantOwnedFactory):
    class Meta:
        model = DemoPlatformChange

    ad_account = factory.SubFactory(AdAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    campaign_external_id = factory.Sequence(lambda n: f"cmp_{n}")
    kind = "status"
    value = factory.LazyFunction(lambda: {"status": "paused", "at": timezone.now().isoformat()})
    effective_date = factory.LazyFunction(lambda: timezone.now().date())
