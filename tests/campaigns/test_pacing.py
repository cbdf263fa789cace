"""Pacing status and alerts: expected vs actual in the right window, severities, forecasts, caps."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.campaigns.factories import AdAccountFactory, CampaignDailyMetricFactory, CampaignFactory
from tests.helpers import assert_error, client_for

pytestmark = pytest.mark.django_db
SYNCED = dt.datetime(2026, 3, 18, 15, 0, tzinfo=dt.UTC)  # = NOW: 62.5 % of the day elapsed


def spend_rows(tenant, campaign, amounts: dict):
    for day, amount in amounts.items():
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=day, spend=Decimal(str(amount)))


def days(start: dt.date, end: dt.date):
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


@pytest.fixture
def paced(tenant):
    meta = AdAccountFactory(tenant=tenant, platform="meta", last_synced_at=SYNCED)
    google = AdAccountFactory(tenant=tenant, platform="google", last_synced_at=SYNCED)
    holiday = CampaignFactory(tenant=tenant, ad_account=meta, name="Holiday Sale", budget_amount=Decimal("800"))
    spend_rows(tenant, holiday, {dt.date(2026, 3, 18): "375", **{d: "800" for d in days(dt.date(2026, 3, 11),
                                                                                          dt.date(2026, 3, 17))}})
    search = CampaignFactory(tenant=tenant, ad_account=google, name="Search", budget_amount=Decimal("100"))
    spend_rows(tenant, search, {d: "130" for d in days(dt.date(2026, 3, 1), dt.date(2026, 3, 18))})
    flight = CampaignFactory(tenant=tenant, ad_account=meta, name="Flight", budget_type="lifetime",
                             budget_amount=Decimal("3000"), start_date=dt.date(2026, 3, 1),
                             end_date=dt.date(2026, 3, 30))
    spend_rows(tenant, flight, {**{d: "100" for d in days(dt.date(2026, 3, 1), dt.date(2026, 3, 17))},
                                dt.date(2026, 3, 18): "62.50"})
    CampaignFactory(tenant=tenant, ad_account=meta, name="Paused", status="paused")
    return holiday, search, flight


def test_pacing_status(api_client, paced):
    body = api_client.get("/api/v1/pacing/status").json()
    assert body["total"] == 3 and body["summary"]["underpacing"] == 1 and body["summary"]["overpacing"] == 1
    items = {i["campaign_name"]: i for i in body["items"]}
    holiday = items["Holiday Sale"]
    assert holiday["window"] == {"type": "day", "start_date": "2026-03-18", "end_date": "2026-03-18",
                                 "elapsed_percent": 62.5}
    assert (holiday["expected_spend"], holiday["actual_spend"], holiday["deviation_percent"]) == (500.0, 375.0, -25.0)
    assert (holiday["status"], holiday["severity"]) == ("underpacing", "critical")
    assert holiday["message"] == "Campaign is 25% behind pace. Expected $500, actual $375."
    assert holiday["as_of"] == "2026-03-18T15:00:00Z"
    # Forecast of March: spent so far (7 × 800 + 375) + 800/day × (13 days + 37.5 % of today); cap 31 × 800.
    assert holiday["forecast"]["spend"] == round(5600 + 375 + 800 * 13.375, 2)
    assert holiday["forecast"]["low"] == holiday["forecast"]["high"] == holiday["forecast"]["spend"]
    assert holiday["forecast"]["cap"] == 24800.0
    flight = items["Flight"]
    assert flight["window"]["type"] == "flight" and flight["status"] == "on_track" and flight["severity"] == "ok"
    assert flight["expected_spend"] == 1762.5 and flight["actual_spend"] == 1762.5
    assert flight["forecast"] == {**flight["forecast"], "spend": 3000.0, "cap": 3000.0, "period_end": "2026-03-30"}


def test_google_is_paced_over_the_month_with_its_billing_cap(api_client, paced):
    search = next(i for i in api_client.get("/api/v1/pacing/status").json()["items"] if i["campaign_name"] == "Search")
    share = (17 + 15 / 24) / 31
    assert search["window"]["type"] == "month" and search["window"]["start_date"] == "2026-03-01"
    assert search["expected_spend"] == round(3040 * share, 2) and search["actual_spend"] == 2340.0
    assert search["status"] == "overpacing" and search["severity"] == "critical"
    # 130/day is allowed on a single day (≤ 2 × 100) but the month is billed at most 30.4 × 100.
    assert search["forecast"]["spend"] == 3040.0 and search["forecast"]["cap"] == 3040.0
    assert search["forecast"]["low"] == 3040.0 and "30.4" in search["forecast"]["cap_basis"]
    assert "$3,040" in search["recommendation"]


def test_alerts(api_client, paced):
    alerts = api_client.get("/api/v1/pacing/alerts").json()["alerts"]
    assert [a["campaign_name"] for a in alerts] == ["Search", "Holiday Sale"]  # larger deviation first
    holiday = alerts[1]
    assert {k: holiday[k] for k in ("type", "severity", "message", "recommendation")} == {
        "type": "underpacing", "severity": "critical",
        "message": "Campaign is 25% behind pace. Expected $500, actual $375.",
        "recommendation": "Consider increasing bid or expanding targeting."}
    only_under = api_client.get("/api/v1/pacing/alerts?type=underpacing").json()["alerts"]
    assert [a["campaign_name"] for a in only_under] == ["Holiday Sale"]
    assert api_client.get("/api/v1/pacing/alerts?severity=warning").json()["alerts"] == []
    assert_error(api_client.get("/api/v1/pacing/alerts?severity=urgent"), 422, "VALIDATION_ERROR")
    assert_error(api_client.get("/api/v1/pacing/status?status=fast"), 422, "VALIDATION_ERROR")
    assert_error(api_client.get("/api/v1/pacing/status?limit=101"), 422, "VALIDATION_ERROR")


def test_warning_threshold_and_delayed_data(api_client, tenant):
    synced = AdAccountFactory(tenant=tenant, last_synced_at=SYNCED)
    warm = CampaignFactory(tenant=tenant, ad_account=synced, name="Warm", budget_amount=Decimal("100"))
    spend_rows(tenant, warm, {dt.date(2026, 3, 17): "100", dt.date(2026, 3, 18): "55"})  # 12 % behind 62.50
    lagging = AdAccountFactory(tenant=tenant, last_synced_at=SYNCED)
    late = CampaignFactory(tenant=tenant, ad_account=lagging, name="Late", budget_amount=Decimal("100"))
    spend_rows(tenant, late, {dt.date(2026, 3, 17): "100"})
    items = {i["campaign_name"]: i for i in api_client.get("/api/v1/pacing/status").json()["items"]}
    assert (items["Warm"]["status"], items["Warm"]["severity"], items["Warm"]["deviation_percent"]) == (
        "underpacing", "warning", -12.0)
    assert items["Late"]["status"] == "data_delayed" and items["Late"]["severity"] == "ok"
    assert [a["campaign_name"] for a in api_client.get("/api/v1/pacing/alerts").json()["alerts"]] == ["Warm"]


def test_pacing_is_as_of_the_last_sync(api_client, tenant):
    # Synced at 06:00: the day was 25 % gone when the figures were taken, whatever the time is now.
    account = AdAccountFactory(tenant=tenant, last_synced_at=dt.datetime(2026, 3, 18, 6, tzinfo=dt.UTC))
    campaign = CampaignFactory(tenant=tenant, ad_account=account, budget_amount=Decimal("200"))
    spend_rows(tenant, campaign, {dt.date(2026, 3, 17): "200", dt.date(2026, 3, 18): "50"})
    item = api_client.get("/api/v1/pacing/status").json()["items"][0]
    assert item["expected_spend"] == 50.0 and item["status"] == "on_track" and item["as_of"] == "2026-03-18T06:00:00Z"


def test_pacing_query_count_is_constant(api_client, tenant, django_assert_max_num_queries):
    for n in range(3):
        account = AdAccountFactory(tenant=tenant, last_synced_at=SYNCED,
                                   timezone=["UTC", "Asia/Tokyo", "America/Denver"][n])
        for _m in range(5):
            campaign = CampaignFactory(tenant=tenant, ad_account=account)
            spend_rows(tenant, campaign, {dt.date(2026, 3, 17): "90"})
    with django_assert_max_num_queries(8):
        assert api_client.get("/api/v1/pacing/status?limit=100").json()["total"] == 15


def test_account_time_zone_and_forecast_range(api_client, tenant):
    """15:00 UTC is 11:00 in New York: 11/24 of the account's day is gone. The forecast's range comes from the
    last 7 complete days (60 … 180 a day, mean 120), each day capped at Meta's 1.75 × budget, the month at
    31 × budget."""
    account = AdAccountFactory(tenant=tenant, platform="meta", timezone="America/New_York", last_synced_at=SYNCED)
    campaign = CampaignFactory(tenant=tenant, ad_account=account, name="Uneven", budget_amount=Decimal("100"))
    spend_rows(tenant, campaign, {**{dt.date(2026, 3, 11 + n): 60 + 20 * n for n in range(7)},
                                  dt.date(2026, 3, 18): "40"})
    item = api_client.get("/api/v1/pacing/status").json()["items"][0]
    assert item["window"] == {"type": "day", "start_date": "2026-03-18", "end_date": "2026-03-18",
                              "elapsed_percent": 45.8}
    assert (item["expected_spend"], item["actual_spend"], item["deviation_percent"]) == (45.83, 40.0, -12.7)
    assert (item["status"], item["severity"]) == ("underpacing", "warning")
    assert item["message"] == "Campaign is 13% behind pace. Expected $45.83, actual $40."
    # spent 840 + 40; 13 days and 13/24 of today left
    remaining = 13 + 13 / 24
    assert item["forecast"] == {
        "period_end": "2026-03-31", "spend": round(880 + 120 * remaining, 2), "low": round(880 + 60 * remaining, 2),
        "high": 3100.0, "spent_to_date": 880.0, "daily_rate": 120.0, "days_remaining": round(remaining, 2),
        "cap": 3100.0, "cap_basis": "daily budget × days in the month",
        "budget_utilisation_percent": round((880 + 120 * remaining) / 3100 * 100, 1)}


def test_pacing_alert_is_a_recommendation(api_client, paced):
    holiday, _, _ = paced
    recs = api_client.get(f"/api/v1/campaigns/{holiday.pk}/recommendations").json()["recommendations"]
    pacing = next(r for r in recs if r["type"] == "pacing")
    assert pacing == {"type": "pacing", "priority": "high", "title": "Campaign is underpacing",
                      "description": "Campaign is 25% behind pace. Expected $500, actual $375. "
                                     "Consider increasing bid or expanding targeting.",
                      "metrics": {"expected_spend": 500.0, "actual_spend": 375.0, "deviation_percent": -25.0},
                      "action": None}


def test_pacing_starts_after_the_first_complete_day_of_delivery(api_client, tenant, time_machine):
    """A campaign that began spending today is not "100 % behind pace": there is no complete day to judge by."""
    account = AdAccountFactory(tenant=tenant, last_synced_at=SYNCED)
    fresh = CampaignFactory(tenant=tenant, ad_account=account, name="Fresh", budget_amount=Decimal("100"))
    spend_rows(tenant, fresh, {dt.date(2026, 3, 18): "1"})
    silent = CampaignFactory(tenant=tenant, ad_account=account, name="Silent", budget_amount=Decimal("100"))
    item = {i["campaign_name"]: i for i in api_client.get("/api/v1/pacing/status").json()["items"]}
    for name in ("Fresh", "Silent"):  # delivering since today; created today with no delivery yet
        assert (item[name]["status"], item[name]["severity"]) == ("insufficient_data", "ok")
        assert item[name]["message"] == "Pacing starts after the first complete day of delivery."
    assert api_client.get("/api/v1/pacing/alerts").json()["alerts"] == []

    # the next day, with one complete day behind it, Fresh is paced (and so is Silent, which never delivered)
    time_machine.move_to(dt.datetime(2026, 3, 19, 15, 0, tzinfo=dt.UTC), tick=False)
    api_client = client_for(api_client.user)  # a day later: a fresh access token
    account.last_synced_at = dt.datetime(2026, 3, 19, 15, 0, tzinfo=dt.UTC)
    account.save(update_fields=["last_synced_at"])
    spend_rows(tenant, fresh, {dt.date(2026, 3, 19): "10"})
    spend_rows(tenant, silent, {dt.date(2026, 3, 19): "0"})
    item = {i["campaign_name"]: i for i in api_client.get("/api/v1/pacing/status").json()["items"]}
    assert (item["Fresh"]["status"], item["Fresh"]["severity"]) == ("underpacing", "critical")
    assert item["Silent"]["status"] == "underpacing"
