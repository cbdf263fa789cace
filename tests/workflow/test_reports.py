"""Growth and performance reports from the campaign metrics of the client's ad accounts."""
import datetime
from decimal import Decimal

import pytest

from tests.campaigns.factories import AdAccountFactory, CampaignDailyMetricFactory, CampaignFactory
from tests.helpers import assert_error
from tests.workflow.conftest import data
from tests.workflow.factories import ClientFactory

pytestmark = pytest.mark.django_db
D = datetime.date


def days(start: D, end: D):
    while start <= end:
        yield start
        start += datetime.timedelta(days=1)


@pytest.fixture
def history(team, tenant):
    account = AdAccountFactory(tenant=tenant, client=team.brand, platform="meta")
    campaign = CampaignFactory(tenant=tenant, ad_account=account, name="Always on")
    for day in days(D(2026, 1, 20), D(2026, 3, 15)):
        later = day >= D(2026, 3, 9)
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=day, spend=Decimal("150" if later else "100"),
                                   revenue=Decimal("300"), conversions=Decimal("3"))
    stranger = CampaignFactory(tenant=tenant, ad_account=AdAccountFactory(tenant=tenant))  # no client
    CampaignDailyMetricFactory(tenant=tenant, campaign=stranger, date=D(2026, 3, 10), spend=Decimal("5000"))
    return campaign


def test_weekly_growth(team, history):
    url = f"/api/v1/reports/growth?client_id={team.brand.pk}&period=weekly&start_date=2026-03-02&end_date=2026-03-15"
    report = data(team.api("viewer").get(url))
    assert (report["period"], report["start_date"], report["end_date"]) == ("weekly", "2026-03-02", "2026-03-15")
    first, second = report["series"]
    assert (first["period_start"], first["period_end"]) == ("2026-03-02", "2026-03-08")
    assert (first["days"], first["partial"], first["growth_basis"]) == (7, False, "total")
    assert (first["spend"], first["revenue"], first["conversions"], first["roas"]) == (700.0, 2100.0, 21, 3.0)
    assert first["growth"] == {"spend": 0.0, "revenue": 0.0, "conversions": 0.0, "roas": 0.0}
    assert (second["spend"], second["roas"]) == (1050.0, 2.0)
    assert second["growth"] == {"spend": 50.0, "revenue": 0.0, "conversions": 0.0, "roas": -33.33}
    assert report["totals"] == {"spend": 1750.0, "revenue": 4200.0, "conversions": 42, "roas": 2.4}
    assert report["previous_totals"] == {"spend": 1400.0, "revenue": 4200.0, "conversions": 42, "roas": 3.0}
    assert report["growth"] == {"spend": 25.0, "revenue": 0.0, "conversions": 0.0, "roas": -20.0}


def test_monthly_buckets_are_clipped_and_daily_is_default(team, history):
    base = f"/api/v1/reports/growth?client_id={team.brand.pk}"
    monthly = data(team.api("member").get(f"{base}&period=monthly&start_date=2026-02-15&end_date=2026-03-15"))
    feb, mar = monthly["series"]
    assert (feb["period_start"], feb["period_end"], feb["spend"]) == ("2026-02-15", "2026-02-28", 1400.0)
    # clipped buckets say so, and compare daily averages: 14 days of February against all 31 days of January
    assert (feb["days"], feb["partial"], feb["growth_basis"]) == (14, True, "daily_average")
    assert feb["growth"]["spend"] == round((1400 / 14 - 1200 / 31) / (1200 / 31) * 100, 2)
    assert (mar["period_start"], mar["period_end"], mar["spend"]) == ("2026-03-01", "2026-03-15", 1850.0)
    assert (mar["days"], mar["partial"], mar["growth_basis"]) == (15, True, "daily_average")
    assert mar["growth"]["spend"] == round((1850 / 15 - 1400 / 14) / (1400 / 14) * 100, 2)  # +23.33, not +32.14
    assert mar["growth"]["roas"] == round((mar["roas"] - feb["roas"]) / feb["roas"] * 100, 2)  # a ratio: as is
    daily = data(team.api("member").get(f"{base}&start_date=2026-03-08&end_date=2026-03-09"))
    assert daily["period"] == "daily" and [d["spend"] for d in daily["series"]] == [100.0, 150.0]
    assert daily["series"][1]["growth"]["spend"] == 50.0
    empty = data(team.api("member").get(f"{base}&start_date=2025-01-01&end_date=2025-01-02"))
    assert [d["spend"] for d in empty["series"]] == [0.0, 0.0] and empty["series"][0]["growth"]["spend"] is None


@pytest.mark.parametrize("query, status", [
    ("", 422), ("client_id=abc", 422), ("period=yearly", 422), ("start_date=2026-13-01", 422),
    ("start_date=2026-03-10&end_date=2026-03-01", 422), ("start_date=03/01/2026", 422),
    ("start_date=2099-01-01&end_date=2099-01-31", 422), ("start_date=2099-01-01", 422),
])
def test_growth_bad_input(team, query, status):
    if query and not query.startswith("client_id"):
        query = f"client_id={team.brand.pk}&{query}"
    assert_error(team.api("viewer").get(f"/api/v1/reports/growth?{query}"), status)


def test_reports_of_a_hidden_client_are_404(team, tenant):
    other = ClientFactory(tenant=tenant)
    for path in ("growth", "performance"):
        assert_error(team.api("member").get(f"/api/v1/reports/{path}?client_id={other.pk}"), 404, "NOT_FOUND")
        assert_error(team.api("outsider").get(f"/api/v1/reports/{path}?client_id={team.brand.pk}"), 404)


def test_performance_by_platform_and_campaign(team, tenant, history):
    google = CampaignFactory(tenant=tenant, ad_account=AdAccountFactory(tenant=tenant, client=team.brand,
                                                                        platform="google"), name="Search")
    CampaignDailyMetricFactory(tenant=tenant, campaign=google, date=D(2026, 3, 10), spend=Decimal("400"),
                               revenue=Decimal("1000"), clicks=100, impressions=5000, conversions=Decimal("10"))
    url = f"/api/v1/reports/performance?client_id={team.brand.pk}&start_date=2026-03-09&end_date=2026-03-10"
    report = data(team.api("viewer").get(url))
    assert report["totals"]["spend"] == 700.0 and report["totals"]["revenue"] == 1600.0
    assert report["totals"]["roas"] == round(1600 / 700, 2)
    assert [(p["platform"], p["spend"]) for p in report["platforms"]] == [("google", 400.0), ("meta", 300.0)]
    assert report["platforms"][0]["cpa"] == 40.0 and report["platforms"][0]["ctr"] == 2.0
    assert [(c["campaign_name"], c["spend"]) for c in report["campaigns"]] == [("Search", 400.0), ("Always on", 300.0)]
    meta_only = data(team.api("viewer").get(f"{url}&platform=meta"))
    assert [c["campaign_name"] for c in meta_only["campaigns"]] == ["Always on"] and meta_only["totals"]["spend"] == 300
    one = data(team.api("viewer").get(f"{url}&campaign_id={google.pk}"))
    assert one["totals"]["spend"] == 400.0 and one["filters"]["campaign_id"] == str(google.pk)
    foreign = CampaignFactory(tenant=tenant, ad_account=AdAccountFactory(tenant=tenant, client=ClientFactory(tenant=tenant)))
    assert_error(team.api("viewer").get(f"{url}&campaign_id={foreign.pk}"), 404)
    assert_error(team.api("viewer").get(f"{url}&platform=myspace"), 422)
    assert_error(team.api("viewer").get(f"{url}&campaign_id=12"), 422)
    assert_error(team.api("viewer").get("/api/v1/reports/performance"), 422)


def test_report_query_count_is_constant(team, tenant, history, django_assert_max_num_queries):
    for _n in range(5):
        campaign = CampaignFactory(tenant=tenant, ad_account=history.ad_account)
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=D(2026, 3, 10))
    with django_assert_max_num_queries(10):
        team.api("viewer").get(f"/api/v1/reports/performance?client_id={team.brand.pk}&start_date=2026-03-01")
    with django_assert_max_num_queries(12):
        team.api("viewer").get(f"/api/v1/reports/growth?client_id={team.brand.pk}&start_date=2026-01-01&period=daily")
