"""Campaign recommendations: each rule fires on the data that justifies it, with those numbers in its text."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.campaigns.factories import (
    AdAccountFactory,
    AdDailyMetricFactory,
    AdFactory,
    CampaignDailyMetricFactory,
    CampaignFactory,
)

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 18)  # the frozen clock's day (UTC); the period is 2026-02-17 … 2026-03-18


def rows(tenant, campaign, days, spend, revenue):
    for day in days:
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=day, spend=Decimal(spend),
                                   revenue=Decimal(revenue))


@pytest.fixture
def portfolio(tenant, frozen):
    """Tenant over the last 30 days: spend 1,840, revenue 7,070 (ROAS 3.84). Newest data is yesterday's, so
    pacing is `data_delayed` for every campaign and adds no recommendation here."""
    account = AdAccountFactory(tenant=tenant, last_synced_at=frozen - dt.timedelta(hours=1))
    make = lambda name, budget: CampaignFactory(tenant=tenant, ad_account=account, name=name,  # noqa: E731
                                                budget_amount=Decimal(budget))
    winner, loser, middling, falling, idle = (make("Winner", "100"), make("Loser", "50"), make("Middling", "200"),
                                              make("Falling", "100"), make("Idle", "30"))
    rows(tenant, winner, [dt.date(2026, 3, d) for d in range(8, 18)], "100", "600")  # 1,000 → 6,000, at budget
    rows(tenant, loser, [dt.date(2026, 3, d) for d in (1, 5, 9, 13)], "60", "30")  # 240 → 120
    rows(tenant, middling, [dt.date(2026, 3, d) for d in range(2, 7)], "100", "150")  # 500 → 750
    rows(tenant, falling, [dt.date(2026, 2, 1)], "100", "400")  # the previous 30 days: ROAS 4
    rows(tenant, falling, [dt.date(2026, 3, 3)], "100", "200")  # now: ROAS 2
    hero = AdFactory(tenant=tenant, campaign=falling, name="Hero video")
    AdDailyMetricFactory(tenant=tenant, ad=hero, date=TODAY - dt.timedelta(days=25), impressions=10000, clicks=200)
    AdDailyMetricFactory(tenant=tenant, ad=hero, date=TODAY - dt.timedelta(days=2), impressions=10000, clicks=100)
    return {c.name: c for c in (winner, loser, middling, falling, idle)}


def recommendations(api_client, campaign):
    response = api_client.get(f"/api/v1/campaigns/{campaign.pk}/recommendations")
    assert response.status_code == 200, response.content
    return response.json()


def test_budget_limited_winner(api_client, portfolio):
    body = recommendations(api_client, portfolio["Winner"])
    assert (body["start_date"], body["end_date"]) == ("2026-02-17", "2026-03-18")
    assert body["metrics"]["spend"] == 1000.0 and body["metrics"]["roas"] == 6.0
    assert body["recommendations"] == [{
        "type": "increase_budget", "priority": "high", "title": "Budget-limited winner",
        "description": "Increase the daily budget by 20% ($100 → $120): ROAS 6.00 over the last 30 days and spend "
                       "reached ≥95% of the budget on 10 of 10 days.",
        "metrics": {"roas": 6.0, "days_at_budget": 10, "days_with_spend": 10},
        "action": {"type": "budget_change", "budget_amount": 120.0, "change_percent": 20}}]


def test_loser_below_break_even_is_paused(api_client, portfolio):
    assert recommendations(api_client, portfolio["Loser"])["recommendations"] == [{
        "type": "pause", "priority": "high", "title": "Spend is not paying back",
        "description": "ROAS is 0.50 over the last 30 days ($240 spend, $120 revenue), below break-even (1.00). "
                       "Pause it or rework targeting and creative.",
        "metrics": {"roas": 0.5, "spend": 240.0, "revenue": 120.0}, "action": {"type": "pause_campaign"}}]


def test_below_the_tenant_average_is_reviewed(api_client, portfolio):
    (review,) = recommendations(api_client, portfolio["Middling"])["recommendations"]
    # 1.50 against 7,070 / 1,840 = 3.84: 61 % below
    assert review["type"] == "review" and review["priority"] == "medium"
    assert review["description"] == ("ROAS 1.50 is 61% below the average of 3.84 across all campaigns over the "
                                     "last 30 days ($500 spend, $750 revenue).")
    assert review["metrics"] == {"roas": 1.5, "tenant_roas": 3.84}


def test_falling_roas_and_creative_fatigue(api_client, portfolio):
    recs = {r["type"]: r for r in recommendations(api_client, portfolio["Falling"])["recommendations"]}
    assert set(recs) == {"review", "investigate", "refresh_creative"}
    assert recs["investigate"]["description"] == "ROAS fell 50% against the previous 30 days (4.00 → 2.00)."
    assert recs["investigate"]["metrics"] == {"roas": 2.0, "previous_roas": 4.0}
    fatigue = recs["refresh_creative"]
    assert fatigue["title"] == "Creative fatigue: Hero video"
    assert fatigue["description"] == ("Refresh creative 'Hero video': CTR fell from 2.00% to 1.00% (−50%) between "
                                      "days 22–28 ago and the last 7 days.")
    assert fatigue["metrics"]["ctr"] == 1.0 and fatigue["metrics"]["previous_ctr"] == 2.0


def test_active_campaign_without_delivery(api_client, portfolio):
    (idle,) = recommendations(api_client, portfolio["Idle"])["recommendations"]
    assert (idle["type"], idle["priority"], idle["action"]) == ("no_delivery", "high", None)
    assert idle["description"] == ("The campaign is active with a $30 daily budget but spent nothing in the last 30 "
                                   "days. Check ad approvals, targeting and the payment method.")


def test_paused_campaign_without_spend_gets_nothing(api_client, tenant, portfolio):
    paused = CampaignFactory(tenant=tenant, ad_account=portfolio["Idle"].ad_account, status="paused")
    assert recommendations(api_client, paused)["recommendations"] == []


def test_numbers_match_the_campaign_performance(api_client, portfolio):
    """The figures behind a recommendation are the campaign's figures for the same 30 days."""
    campaign = portfolio["Middling"]
    body = recommendations(api_client, campaign)
    performance = api_client.get(f"/api/v1/campaigns/{campaign.pk}/performance?period=30d").json()
    assert body["metrics"] == performance["totals"]
