"""The demo platform: deterministic, realistic, remembers changes, uploads audiences."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from campaigns.connectors.base import AudienceMember, CampaignSpec, ConnectorError, ConnectorRejected
from campaigns.connectors.demo import DemoConnector
from stratum.api.tenancy import tenant_scope
from tests.campaigns.factories import AdAccountFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 17)


@pytest.fixture
def northwind(frozen, tenant):
    return AdAccountFactory(tenant=tenant, external_id="demo_101", name="Northwind Apparel",
                            timezone="America/New_York")


def campaign_days(connector, start, end):
    """{campaign external id: {date: campaign-level record}}"""
    out = defaultdict(dict)
    for row in connector.daily_insights(connector.ad_account.external_id, start, end):
        if row.ad_external_id is None:
            out[row.campaign_external_id][row.date] = row
    return out


def by_name(connector):
    return {c.name: c for c in connector.list_campaigns(connector.ad_account.external_id)}


def test_deterministic_and_independent_of_the_requested_range(northwind, tenant):
    with tenant_scope(tenant):
        first = list(DemoConnector(northwind).daily_insights("demo_101", DAY - dt.timedelta(days=10), DAY))
        again = list(DemoConnector(northwind).daily_insights("demo_101", DAY - dt.timedelta(days=10), DAY))
        single = list(DemoConnector(northwind).daily_insights("demo_101", DAY, DAY))
    assert first == again and first
    assert [r for r in first if r.date == DAY] == single


def test_campaign_rows_are_the_sum_of_their_ads(northwind, tenant):
    with tenant_scope(tenant):
        rows = list(DemoConnector(northwind).daily_insights("demo_101", DAY, DAY))
    ads = defaultdict(lambda: Decimal("0"))
    for row in rows:
        if row.ad_external_id:
            ads[row.campaign_external_id] += row.spend
    for row in rows:
        if row.ad_external_id is None:
            assert row.spend == ads[row.campaign_external_id]
            assert row.clicks <= row.impressions and row.conversions <= row.clicks


def test_archetypes_winners_losers_and_pacing(northwind, tenant):
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        campaigns = by_name(connector)
        days = campaign_days(connector, DAY - dt.timedelta(days=27), DAY)

    def roas(name):
        rows = days[campaigns[name].external_id].values()
        return float(sum(r.revenue for r in rows) / sum(r.spend for r in rows))

    def spend_share(name):
        rows = days[campaigns[name].external_id].values()
        return float(sum(r.spend for r in rows)) / (float(campaigns[name].budget_amount) * len(rows))

    assert roas("Summer Sale — Prospecting") > 4.5          # winner
    assert roas("New Arrivals — Broad") < 1.0               # loser
    assert spend_share("Summer Sale — Prospecting") > 0.97  # budget-limited
    assert spend_share("Lookalike 1% — Purchasers") < 0.7   # under-pacing
    assert spend_share("Brand Awareness — Video") > 1.25    # over-pacing
    assert campaigns["Holiday Teaser"].status == "paused"
    # paused 20 days before the account was connected (the anchor, 2026-03-18)
    assert max(days[campaigns["Holiday Teaser"].external_id]) == dt.date(2026, 2, 25)


def test_weekday_seasonality(northwind, tenant):
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        days = campaign_days(connector, DAY - dt.timedelta(days=55), DAY - dt.timedelta(days=1))
    weekday, weekend = [], []
    for rows in days.values():
        for day, row in rows.items():
            (weekend if day.weekday() >= 5 else weekday).append(float(row.spend))
    assert sum(weekday) / len(weekday) > sum(weekend) / len(weekend)


def test_diminishing_returns_after_a_budget_increase(northwind, tenant, time_machine):
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        campaign = by_name(connector)["Evergreen — Best Sellers"]
        before = campaign_days(connector, DAY - dt.timedelta(days=27), DAY - dt.timedelta(days=1))[campaign.external_id]
        connector.update_campaign_budget("demo_101", campaign.external_id, campaign.budget_amount * 3)
        time_machine.move_to(dt.datetime(2026, 4, 16, 12, tzinfo=dt.UTC), tick=False)
        after = campaign_days(DemoConnector(northwind), DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=28))[
            campaign.external_id]
        # History is not rewritten by the change.
        assert campaign_days(DemoConnector(northwind), DAY - dt.timedelta(days=27), DAY - dt.timedelta(days=1))[
            campaign.external_id] == before

    def cpa(rows):
        return float(sum(r.spend for r in rows.values()) / sum(r.conversions for r in rows.values()))

    assert sum(r.spend for r in after.values()) > Decimal("2.5") * sum(r.spend for r in before.values())
    assert cpa(after) > 1.3 * cpa(before)  # conversions grow slower than spend


def test_creative_fatigue(northwind, tenant):
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        catalog = by_name(connector)["Catalog — Dynamic Ads"]
        rows = [r for r in connector.daily_insights("demo_101", DAY - dt.timedelta(days=34), DAY - dt.timedelta(days=1))
                if r.campaign_external_id == catalog.external_id and r.ad_external_id == f"{catalog.external_id}_a1"]

    def ctr(chunk):
        return sum(r.clicks for r in chunk) / sum(r.impressions for r in chunk)

    assert ctr(rows[-7:]) < 0.75 * ctr(rows[:7])


def test_data_gap_and_reporting_lag(frozen, tenant):
    cedar = AdAccountFactory(tenant=tenant, external_id="demo_103", timezone="Europe/London")
    with tenant_scope(tenant):
        insights = DemoConnector(cedar).daily_insights("demo_103", DAY - dt.timedelta(days=40),
                                                        DAY + dt.timedelta(days=1))
        dates = {r.date for r in insights}
    today = dt.date(2026, 3, 18)
    assert max(dates) == today - dt.timedelta(days=2)  # two days behind
    assert all(today - dt.timedelta(days=n) not in dates for n in (22, 23, 24, 25))
    assert today - dt.timedelta(days=21) in dates and today - dt.timedelta(days=26) in dates


def test_today_is_partial(northwind, tenant):
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        winner = by_name(connector)["Summer Sale — Prospecting"]
        today = campaign_days(connector, dt.date(2026, 3, 18), dt.date(2026, 3, 18))[winner.external_id]
    # 11:00 in New York (EDT): 11/24 of the day, a budget-limited campaign spends 97.5–100 % of that share.
    spend = float(today[dt.date(2026, 3, 18)].spend)
    assert 250 * 11 / 24 * 0.97 <= spend <= 250 * 11 / 24 * 1.001


def test_status_changes_apply_from_the_moment_they_are_made(northwind, tenant, time_machine):
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        winner = by_name(connector)["Summer Sale — Prospecting"]
        connector.update_campaign_status("demo_101", winner.external_id, "paused")
        assert by_name(DemoConnector(northwind))["Summer Sale — Prospecting"].status == "paused"
        time_machine.move_to(dt.datetime(2026, 3, 20, 15, tzinfo=dt.UTC), tick=False)
        days = campaign_days(DemoConnector(northwind), dt.date(2026, 3, 17), dt.date(2026, 3, 20))[winner.external_id]
    assert set(days) == {dt.date(2026, 3, 17), dt.date(2026, 3, 18)}
    assert float(days[dt.date(2026, 3, 18)].spend) < 250 * 11 / 24 * 1.001  # only the hours before the pause


def test_create_and_reject(northwind, tenant):
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        record = connector.create_campaign("demo_101", CampaignSpec(
            name="Spring Launch", objective="sales", budget_type="daily", budget_amount=Decimal("80"),
            targeting={"locations": ["US"]}))
        assert record.external_id == "demo_101_n001" and record.status == "paused"
        assert "Spring Launch" in by_name(DemoConnector(northwind))
        with pytest.raises(ConnectorRejected) as low:
            connector.update_campaign_budget("demo_101", record.external_id, Decimal("1"))
        assert low.value.code == "BUDGET_TOO_LOW"
        with pytest.raises(ConnectorRejected) as missing:
            connector.update_campaign_status("demo_101", "nope", "paused")
        assert missing.value.code == "CAMPAIGN_NOT_FOUND"
        with pytest.raises(ConnectorError):
            connector.list_campaigns("demo_999")
        connector.update_campaign_status("demo_101", record.external_id, "deleted")
        with pytest.raises(ConnectorRejected):
            DemoConnector(northwind).update_campaign_status("demo_101", record.external_id, "active")


def test_audience_upload_match_rates(northwind, tenant):
    members = [AudienceMember(email=f"person{i}@example.com") for i in range(2000)]
    members += [AudienceMember(email="not-an-email"), AudienceMember(phone="12"), AudienceMember(external_id="x")]
    with tenant_scope(tenant):
        connector = DemoConnector(northwind)
        result = connector.upload_audience("demo_101", audience_external_id=None, name="Buyers", add=members, remove=[])
        again = connector.upload_audience("demo_101", audience_external_id=result.audience_external_id, name="Buyers",
                                          add=members, remove=members[:100])
    assert result.received == 2003 and result.invalid == 3
    assert 0.58 * 2000 <= result.matched <= 0.77 * 2000
    assert result.audience_external_id.startswith("demo_aud_")
    assert again.matched == result.matched  # deterministic per record
    assert 50 <= again.removed <= 80  # only matched records can be removed
    phone = AudienceMember(phone="+1 415 555 2671")
    with tenant_scope(tenant):
        result = connector.upload_audience("demo_101", audience_external_id=None, name="P", add=[phone], remove=[])
    assert result.invalid == 0
