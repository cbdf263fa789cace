"""`GET /analytics/ai/insights`: each insight derived from data built for it, in the spec's shape."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from campaigns.models import AdDailyMetric
from tests.campaigns.factories import AdAccountFactory, AdFactory, CampaignFactory
from tests.helpers import assert_error

from .conftest import NOW, TODAY, daily_metrics

URL = "/api/v1/analytics/ai/insights"
SPEC_KEYS = {"type", "severity", "title", "description", "potential_impact", "confidence"}


def wobble(i: int) -> float:
    """A deterministic, irregular value in [−1, 1] (stands in for day-to-day noise)."""
    return math.sin(i * 2.399) * 0.6 + math.sin(i * 0.713) * 0.4


def of_type(body, kind):
    return [i for i in body["insights"] if i["type"] == kind]


@pytest.fixture
def account(tenant):
    return AdAccountFactory(tenant=tenant, last_synced_at=NOW)


class TestReallocation:
    def test_moves_budget_from_the_saturated_to_the_responsive_campaign(self, api_client, tenant, account):
        scale = CampaignFactory(tenant=tenant, ad_account=account, name="Scale me")
        saturated = CampaignFactory(tenant=tenant, ad_account=account, name="Saturated")
        days = [TODAY - dt.timedelta(days=d) for d in range(1, 61)]
        rows_scale, rows_sat = [], []
        for i, day in enumerate(days):
            spend = 100 + 20 * wobble(i)
            rows_scale.append((day, spend, 5 * spend * (1 + 0.02 * wobble(i + 7)), 10, 10000, 200))
            spend2 = 100 + 20 * wobble(i + 3)
            rows_sat.append((day, spend2, 300 * (spend2 / 100) ** 0.2 * (1 + 0.02 * wobble(i + 11)), 10, 10000, 200))
        daily_metrics(scale, rows_scale)
        daily_metrics(saturated, rows_sat)
        response = api_client.get(URL, {"types": "optimization"})
        assert response.status_code == 200, response.content
        [insight] = of_type(response.json(), "optimization")
        assert SPEC_KEYS <= set(insight)
        assert insight["title"] == "Budget Reallocation Opportunity"
        assert insight["entity"] == {"from_campaign_id": str(saturated.pk), "to_campaign_id": str(scale.pk)}
        data = insight["data"]
        assert data["marginal_roas_to"] == pytest.approx(5.0, rel=0.05)
        assert 0 <= data["marginal_roas_from"] < 1.5  # true curve: 0.2 · R(s) / s ≈ 0.6–0.7 near s = 100
        assert 0.05 <= data["share_moved"] <= 0.5 and data["roas_after"] > data["roas_before"]
        assert insight["potential_impact"] == f"+${round(data['expected_revenue_gain']):,} revenue"
        assert insight["confidence"] >= 0.95 and insight["severity"] == "high"
        assert "from Saturated to Scale me" in insight["description"]

    def test_no_proposal_without_a_curve(self, api_client, tenant, account):
        flat = CampaignFactory(tenant=tenant, ad_account=account)
        daily_metrics(flat, [(TODAY - dt.timedelta(days=d), 100, 300, 10, 1000, 20) for d in range(1, 40)])
        other = CampaignFactory(tenant=tenant, ad_account=account)
        daily_metrics(other, [(TODAY - dt.timedelta(days=d), 50, 100, 5, 1000, 20) for d in range(1, 10)])
        assert of_type(api_client.get(URL, {"types": "optimization"}).json(), "optimization") == []


class TestAnomalies:
    def test_a_spike_is_found_and_weekly_seasonality_is_not(self, api_client, tenant, account):
        campaign = CampaignFactory(tenant=tenant, ad_account=account, name="Steady")
        rows = []
        for d in range(1, 64):
            day = TODAY - dt.timedelta(days=d)
            weekend = day.weekday() >= 5
            spend = (60 if weekend else 100) * (1 + 0.03 * wobble(d))
            rows.append((day, spend, spend * 3, 10 + round(2 * wobble(d + 5)), 10000, 200))
        rows[0] = (TODAY - dt.timedelta(days=1), 200.0, 600.0, 10, 10000, 200)  # yesterday, a Tuesday
        rows.append((TODAY, 30.0, 90.0, 1, 1000, 20))  # today is still running: never judged
        daily_metrics(campaign, rows)
        body = api_client.get(URL, {"types": "anomaly"}).json()
        found = {(i["data"]["metric"], i["entity"]["campaign_id"]): i for i in of_type(body, "anomaly")}
        spike = found[("spend", str(campaign.pk))]
        assert spike["data"]["date"] == "2026-03-17" and spike["data"]["z_score"] > 10
        assert spike["data"]["expected"] == pytest.approx(100, rel=0.05)
        assert spike["title"] == "Spend spike: Steady" and spike["severity"] == "high"
        assert spike["potential_impact"].startswith("+$") and spike["confidence"] > 0.999
        total = found[("spend", None)]  # the account's daily totals (summed in SQL) show it too
        assert total["title"] == "Spend spike: all campaigns" and total["data"]["value"] == 200.0
        assert total["data"]["date"] == "2026-03-17"
        assert all(i["data"]["date"] != TODAY.isoformat() for i in of_type(body, "anomaly"))
        # weekend days (60 instead of 100) are expected for a weekend: no anomaly on them
        assert not any(dt.date.fromisoformat(i["data"]["date"]).weekday() >= 5 for i in of_type(body, "anomaly"))


class TestFatigue:
    def test_falling_ctr_at_stable_spend(self, api_client, tenant, account):
        campaign = CampaignFactory(tenant=tenant, ad_account=account, name="Catalog")
        tired = AdFactory(tenant=tenant, campaign=campaign, name="Tired creative")
        fresh = AdFactory(tenant=tenant, campaign=campaign, name="Fresh creative")
        cut = AdFactory(tenant=tenant, campaign=campaign, name="Budget cut")
        rows = []
        for d in range(28):
            day = TODAY - dt.timedelta(days=27 - d)
            for ad, clicks, spend in ((tired, 200 - 4 * d, 100), (fresh, 150 + round(5 * wobble(d)), 100),
                                      (cut, 200 - 4 * d, 100 - 2.5 * d)):
                rows.append(AdDailyMetric(tenant=tenant, ad=ad, campaign=campaign, date=day, impressions=10000,
                                          clicks=clicks, spend=Decimal(str(spend))))
        AdDailyMetric.objects.unscoped().bulk_create(rows)
        daily_metrics(campaign, [(TODAY - dt.timedelta(days=d), 250, 700, 20, 30000, 450) for d in range(28)])
        body = api_client.get(URL, {"types": "creative_fatigue"}).json()
        [insight] = of_type(body, "creative_fatigue")
        assert insight["entity"] == {"ad_id": str(tired.pk), "campaign_id": str(campaign.pk)}
        assert insight["data"]["ctr_start"] == pytest.approx(2.0, abs=0.01)
        assert insight["data"]["ctr_end"] == pytest.approx(0.92, abs=0.01)
        assert insight["severity"] == "high" and insight["confidence"] > 0.99
        assert insight["potential_impact"].startswith("−") and "clicks per week" in insight["potential_impact"]


class TestPacingAndSignalHealth:
    def test_overpacing_and_an_account_that_never_synced(self, api_client, tenant, account):
        hot = CampaignFactory(tenant=tenant, ad_account=account, name="Hot", budget_amount=Decimal("100"))
        daily_metrics(hot, [(TODAY - dt.timedelta(days=1), 100, 200, 3, 1000, 20), (TODAY, 95, 200, 3, 1000, 20)])
        AdAccountFactory(tenant=tenant, name="Forgotten account", last_synced_at=None)
        body = api_client.get(URL, {"types": "pacing,signal_health"}).json()
        [pacing] = of_type(body, "pacing")
        assert pacing["title"] == "Campaign is overpacing: Hot" and pacing["severity"] == "high"
        assert pacing["confidence"] == 1.0 and pacing["data"]["actual_spend"] == 95.0
        assert pacing["potential_impact"] == "+$32.50 spend vs plan"  # 95 − 100 × 15/24
        signals = {i["title"]: i for i in of_type(body, "signal_health")}
        forgotten = signals["Signal health unhealthy: Forgotten account"]
        assert forgotten["severity"] == "high" and "never synced" in forgotten["description"]
        assert body["counts"] == {"pacing": 1, "signal_health": len(signals)}
        assert {i["confidence"] for i in signals.values()} == {1.0}


class TestEndpoint:
    def test_no_campaign_data_is_flagged(self, api_client):
        body = api_client.get(URL).json()
        assert body["insights"] == [] and body["insufficient_data"] is True
        assert body["counts"] == {t: 0 for t in ("optimization", "anomaly", "creative_fatigue", "pacing",
                                                  "signal_health")}

    def test_bad_type_and_scopes(self, api_client, user, make_key_client):
        assert "types" in assert_error(api_client.get(URL, {"types": "horoscope"}), 422)["errors"]
        assert make_key_client(user, scopes=["read:analytics"]).get(URL).status_code == 200
        assert_error(make_key_client(user, scopes=["read:reporting"]).get(URL), 403)
