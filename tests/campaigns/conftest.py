"""Fixtures: a frozen clock, a tenant with the three demo accounts synced, and a scriptable fake platform."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from campaigns import connectors
from campaigns.connectors.base import (
    AdPlatformConnector,
    AdRecord,
    CampaignRecord,
    ConnectorError,
    InsightRecord,
)
from campaigns.connectors.demo import DEMO_ACCOUNTS
from campaigns.services import ad_account_sync, ad_account_upsert
from stratum.api.tenancy import tenant_scope

# A Wednesday, 15:00 UTC (11:00 in New York and 08:00 in Los Angeles, on summer time; 15:00 in London).
NOW = dt.datetime(2026, 3, 18, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    """Every campaigns test runs at NOW (before tokens are issued, so JWTs are valid at NOW)."""
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def demo_world(db, frozen, tenant):
    """The tenant with the demo platform's three accounts and 90 days of history, as seed_demo makes it."""
    with tenant_scope(tenant):
        accounts = []
        for demo in DEMO_ACCOUNTS:
            account, _ = ad_account_upsert(tenant=tenant, platform="demo", external_id=demo.external_id,
                                           name=demo.name, currency=demo.currency, timezone_name=demo.timezone)
            end = frozen.astimezone(__import__("zoneinfo").ZoneInfo(demo.timezone)).date()
            run = ad_account_sync(tenant=tenant, ad_account=account, start=end - dt.timedelta(days=89), end=end,
                                  trigger="seed")
            assert run.status == "ok", run.error_message
            accounts.append(account)
    return accounts


class FakeConnector(AdPlatformConnector):
    """A platform whose answers the test scripts (class-level state, reset per test)."""

    platform = "meta"
    campaigns: list[CampaignRecord] = []
    ads: list[AdRecord] = []
    insights: list[InsightRecord] = []
    fail_with: ConnectorError | None = None
    fail_on: set[str] = set()
    calls: list[tuple] = []

    def _maybe_fail(self, name: str):
        self.calls.append((name,))
        if self.fail_with is not None and (not self.fail_on or name in self.fail_on):
            raise self.fail_with

    def list_accounts(self):
        self._maybe_fail("list_accounts")
        return []

    def list_campaigns(self, account_id):
        self._maybe_fail("list_campaigns")
        return list(self.campaigns)

    def list_ads(self, account_id):
        self._maybe_fail("list_ads")
        return list(self.ads)

    def daily_insights(self, account_id, start, end):
        self._maybe_fail("daily_insights")
        return [row for row in self.insights if start <= row.date <= end]

    def create_campaign(self, account_id, spec):
        self._maybe_fail("create_campaign")
        record = CampaignRecord(external_id=f"fake_{len(self.campaigns) + 1}", name=spec.name, status=spec.status,
                                objective=spec.objective, budget_type=spec.budget_type,
                                budget_amount=spec.budget_amount, targeting=spec.targeting)
        self.campaigns.append(record)
        return record

    def update_campaign_status(self, account_id, campaign_id, status):
        self._maybe_fail("update_campaign_status")
        self.calls.append(("status", campaign_id, status))

    def update_campaign_budget(self, account_id, campaign_id, amount):
        self._maybe_fail("update_campaign_budget")
        self.calls.append(("budget", campaign_id, amount))


@pytest.fixture
def fake_platform():
    """Registers FakeConnector for `meta` for one test and restores the registry afterwards."""
    previous = connectors._factories.get("meta")
    FakeConnector.campaigns, FakeConnector.ads, FakeConnector.insights = [], [], []
    FakeConnector.fail_with, FakeConnector.fail_on, FakeConnector.calls = None, set(), []
    connectors.register("meta", FakeConnector)
    yield FakeConnector
    if previous is None:
        connectors._factories.pop("meta", None)
    else:
        connectors._factories["meta"] = previous


def insight(day: dt.date, campaign: str, ad: str | None = None, **values) -> InsightRecord:
    defaults = dict(impressions=1000, clicks=20, spend=Decimal("10.00"), conversions=Decimal("1"),
                    revenue=Decimal("40.00"), landing_page_views=15, leads=0)
    defaults.update(values)
    return InsightRecord(date=day, campaign_external_id=campaign, ad_external_id=ad, **defaults)
