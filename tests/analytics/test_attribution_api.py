"""Journeys from CDP events (SQL), `GET /analytics/attribution` and `/attribution/compare`."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from analytics.attribution import AttributionQuery, attribution_report
from analytics.attribution.journeys import journeys_aggregate
from cdp.models import Event, Profile
from stratum.api.params import DateRange
from tests.campaigns.factories import CampaignDailyMetricFactory, CampaignFactory
from tests.helpers import assert_error

from .conftest import NOW, TODAY, event, events_stored

URL = "/api/v1/analytics/attribution"
DAY = dt.timedelta(days=1)


def paths_of(journeys) -> dict:
    out = {}
    for i, path in enumerate(journeys.paths):
        key = tuple(journeys.touchpoints[t][0] for t in path)
        out[key] = (journeys.conversions[i], journeys.nulls[i], journeys.revenue[i])
    return out


class TestJourneys:
    def test_paths_lookback_boundaries_direct_and_non_converting(self, tenant, scoped):
        def person():
            return Profile.objects.create(tenant=tenant, email=f"{Profile.objects.count()}@x.example")

        t = NOW - 2 * DAY
        a, b, c, d, e, f, g = (person() for _ in range(7))
        rows = [
            # a: two touchpoints in order, then a purchase
            event(tenant, a, "email_click", t - 3 * DAY, {"channel": "email"}),
            event(tenant, a, "ad_click", t - 1 * DAY, {"channel": "paid_social", "campaign": "Spring"}),
            event(tenant, a, "purchase", t, revenue=100),
            # b: a touchpoint older than the 30-day lookback does not count
            event(tenant, b, "ad_click", t - 40 * DAY, {"channel": "display"}),
            event(tenant, b, "ad_click", t - 2 * DAY, {"utm_source": "google"}),  # no channel: utm_source
            event(tenant, b, "page_view", t - 1 * DAY, {"path": "/pricing"}),  # not a touchpoint
            event(tenant, b, "purchase", t, revenue=50),
            # c: the previous purchase ends the earlier journey
            event(tenant, c, "ad_click", t - 11 * DAY, {"channel": "search"}),
            event(tenant, c, "purchase", t - 10 * DAY, revenue=10),
            event(tenant, c, "email_click", t - 5 * DAY, {"channel": "email"}),
            event(tenant, c, "purchase", t, revenue=20),
            # d: a purchase without touchpoints is direct
            event(tenant, d, "purchase", t, {"channel": "ignored: conversions are not touchpoints"}, revenue=5),
            # e: touchpoints without a purchase are a non-converting journey
            event(tenant, e, "ad_click", t - 1 * DAY, {"channel": "paid_social"}),
            event(tenant, e, "ad_click", t, {"channel": "search"}),
            # f: a touchpoint at the very moment of the purchase belongs to it
            event(tenant, f, "ad_click", t, {"channel": "search"}),
            event(tenant, f, "purchase", t, revenue=7),
            # g: a purchase before the period only bounds the journey that follows it
            event(tenant, g, "ad_click", t - 45 * DAY, {"channel": "display"}),
            event(tenant, g, "purchase", t - 40 * DAY, revenue=99),
            event(tenant, g, "ad_click", t - 20 * DAY, {"channel": "display"}),
        ]
        Event.objects.bulk_create(rows)
        events_stored(tenant, rows)
        start = dt.datetime.combine(TODAY - 29 * DAY, dt.time(), tzinfo=dt.UTC)
        journeys = journeys_aggregate(tenant=tenant, start=start, end=start + 30 * DAY, lookback=30 * DAY,
                                      conversion_events=["purchase"], half_life=7 * DAY)
        assert paths_of(journeys) == {
            ("email", "paid_social"): (1, 0, 100), ("google",): (1, 0, 50), ("search",): (2, 0, 17),
            ("email",): (1, 0, 20), ("direct",): (1, 0, 5), ("paid_social", "search"): (0, 1, 0),
            ("display",): (0, 1, 0),
        }
        assert ("paid_social", "Spring") in journeys.touchpoints
        # time decay, half-life 7 days: touchpoints 3 and 1 days before → weights 2^(−3/7) and 2^(−1/7)
        index = next(i for i, p in enumerate(journeys.paths) if len(p) == 2 and journeys.conversions[i] == 1)
        w1, w2 = 2 ** (-3 / 7), 2 ** (-1 / 7)
        assert list(journeys.decay[index]) == pytest.approx([w1 / (w1 + w2), w2 / (w1 + w2)])
        assert list(journeys.decay_revenue[index]) == pytest.approx([100 * w1 / (w1 + w2), 100 * w2 / (w1 + w2)])

    def test_other_tenants_events_are_not_read(self, tenant, scoped, journeys):
        from tests.accounts.factories import TenantFactory

        from .conftest import Journeys

        Journeys(TenantFactory()).add([("email", 1)], revenue=10, times=3).save()
        journeys.add([("search", 1)], revenue=10).save()
        start = dt.datetime.combine(TODAY - 29 * DAY, dt.time(), tzinfo=dt.UTC)
        result = journeys_aggregate(tenant=tenant, start=start, end=start + 30 * DAY, lookback=30 * DAY,
                                    conversion_events=["purchase"])
        assert paths_of(result) == {("search",): (1, 0, 10)}


@pytest.fixture
def mixed(journeys):
    """40 conversions over three channels and some non-converting journeys."""
    (journeys.add([("email", 5), ("paid_social", 1, "Summer Sale")], revenue=100, times=10)
     .add([("paid_social", 2, "Summer Sale")], revenue=50, times=10)
     .add([("search", 3), ("email", 1)], revenue=80, times=10)
     .add([("search", 1)], revenue=20, times=10)
     .add([("paid_social", 1, "Summer Sale")], converted=False, times=15)
     .add([("search", 1)], converted=False, times=5)
     .save())
    return journeys


class TestAttributionEndpoint:
    def test_last_click_per_channel_and_campaign_sums_to_totals(self, api_client, tenant, mixed):
        campaign = CampaignFactory(tenant=tenant, name="Summer Sale")
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=TODAY - 3 * DAY, spend=Decimal("500"))
        response = api_client.get(URL, {"model": "last_click"})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["totals"] == {"conversions": 40, "revenue": 2500.0, "journeys": 60, "converting_journeys": 40,
                                  "non_converting_journeys": 20, "distinct_paths": 4, "channels": 3}
        assert body["insufficient_data"] is False and body["lookback_days"] == 30
        channels = {c["channel"]: c for c in body["channels"]}
        assert {k: (v["attributed_conversions"], v["attributed_revenue"]) for k, v in channels.items()} == {
            "paid_social": (20, 1500.0), "email": (10, 800.0), "search": (10, 200.0)}
        assert channels["paid_social"]["conversion_share"] == 0.5
        assert [c["channel"] for c in body["channels"]] == ["paid_social", "email", "search"]
        campaigns = {c["campaign"]: c for c in body["campaigns"]}
        summer = campaigns["Summer Sale"]
        assert summer["campaign_id"] == str(campaign.pk) and summer["spend"] == 500.0
        assert summer["attributed_revenue"] == 1500.0 and summer["attributed_roas"] == 3.0
        assert campaigns[None]["campaign_id"] is None  # touchpoints without a campaign
        assert sum(c["attributed_conversions"] for c in body["campaigns"]) == 40

    def test_every_model_sums_to_the_observed_totals(self, api_client, mixed):
        for model in ("first_click", "linear", "time_decay", "position_based", "data_driven", "shapley"):
            body = api_client.get(URL, {"model": model}).json()
            assert body["insufficient_data"] is False, model
            assert sum(c["attributed_conversions"] for c in body["channels"]) == pytest.approx(40, abs=1e-9), model
            assert sum(c["attributed_revenue"] for c in body["channels"]) == pytest.approx(2500, abs=1e-9), model
        body = api_client.get(URL).json()  # default: data_driven
        assert body["model"] == "data_driven" and body["order"] == 1
        assert {"removal_effect", "removal_effect_value"} <= set(body["channels"][0])
        assert 0 < body["model_details"]["conversion_probability"] < 1
        assert "half_life_days" not in body

    def test_data_driven_from_events_matches_the_hand_computed_chain(self, api_client, mixed):
        # Journeys: E>P 10 conv (100 each), P 10 conv (50) + 15 null, S>E 10 conv (80), S 10 conv (20) + 5 null.
        # Chain: start→E 10/60, →P 25/60, →S 25/60; E→P ½, E→conv ½; P→conv 4/7; S→E 2/5, S→conv 2/5.
        # Conversion probability from E, P, S: 11/14, 4/7, 5/7 → P = 2/3 (the observed 40/60).
        # Without E: 34/84 → RE_E = 11/28; without P: 1/3 → RE_P = ½; without S: 31/84 → RE_S = 25/56.
        # Value per journey (v̄: P 75, E 80, S 20): 3500/84; without E 1780/84, P 1400/84, S 2360/84
        # → REV 1720/3500, 2100/3500, 1140/3500.
        body = api_client.get(URL, {"model": "data_driven"}).json()
        assert body["model_details"] == {"conversion_probability": round(2 / 3, 6), "transient_states": 3}
        channels = {c["channel"]: c for c in body["channels"]}
        removal = {"email": 11 / 28, "paid_social": 1 / 2, "search": 25 / 56}
        value_removal = {"email": 1720 / 3500, "paid_social": 2100 / 3500, "search": 1140 / 3500}
        for name, row in channels.items():
            assert row["removal_effect"] == round(removal[name], 6), name
            assert row["removal_effect_value"] == round(value_removal[name], 6), name
            assert row["attributed_conversions"] == pytest.approx(40 * removal[name] / (75 / 56), abs=0.011), name
            assert row["attributed_revenue"] == pytest.approx(2500 * value_removal[name] / (4960 / 3500),
                                                              abs=0.011), name
        # paid_social has one campaign, so all of its credit is Summer Sale's (each list is rounded on its own)
        summer = next(c for c in body["campaigns"] if c["campaign"] == "Summer Sale")
        assert summer["attributed_conversions"] == pytest.approx(40 * 0.5 / (75 / 56), abs=0.011)
        assert summer["channels"] == ["paid_social"]

    def test_data_driven_equals_the_engine_on_the_same_paths(self, api_client, tenant, scoped, mixed):
        query = AttributionQuery(date_range=DateRange(TODAY - 29 * DAY, TODAY), order=2)
        direct = attribution_report(tenant=tenant, model="data_driven", query=query)
        body = api_client.get(URL, {"model": "data_driven", "order": 2}).json()
        assert body["channels"] == direct["channels"]
        assert body["order"] == 2

    def test_time_decay_uses_the_half_life(self, api_client, journeys):
        journeys.add([("email", 7), ("search", 0)], revenue=30).save()
        body = api_client.get(URL, {"model": "time_decay", "half_life_days": 7}).json()
        credit = {c["channel"]: c["attributed_conversions"] for c in body["channels"]}
        assert credit == {"search": 0.67, "email": 0.33}  # weights 1 and ½
        assert body["half_life_days"] == 7

    def test_too_little_data_is_flagged_not_invented(self, api_client, journeys):
        journeys.add([("email", 1)], revenue=10, times=3).save()
        body = api_client.get(URL, {"model": "data_driven"}).json()
        assert body["insufficient_data"] is True and body["channels"] == [] and body["campaigns"] == []
        assert "at least 30 conversions" in body["message"] and body["totals"]["conversions"] == 3
        assert api_client.get(URL, {"model": "linear"}).json()["insufficient_data"] is False
        empty = api_client.get(URL, {"model": "linear", "start_date": "2025-01-01", "end_date": "2025-01-31"}).json()
        assert empty["insufficient_data"] is True and empty["totals"]["conversions"] == 0

    @pytest.mark.parametrize("params, field", [
        ({"model": "u_shaped"}, "model"), ({"lookback_days": 0}, "lookback_days"),
        ({"lookback_days": 91}, "lookback_days"), ({"order": 4}, "order"), ({"order": "x"}, "order"),
        ({"period": "400d"}, "period"), ({"start_date": "2025-01-01", "end_date": "2026-03-01"}, "end_date"),
        ({"start_date": "2026-03-10", "end_date": "2026-03-20"}, "end_date"),
        ({"start_date": "2026-03-10", "end_date": "2026-03-01"}, "start_date"),
        ({"half_life_days": 0}, "half_life_days"), ({"conversion_event": "a,b,c,d,e,f"}, "conversion_event"),
        ({"conversion_event": "<script>"}, "conversion_event"), ({"model": "shapley", "order": 2}, "order"),
    ])
    def test_bad_input_is_422(self, api_client, params, field):
        body = assert_error(api_client.get(URL, params), 422, "VALIDATION_ERROR")
        assert field in body["errors"], body

    def test_direct_conversions_are_in_the_no_campaign_row(self, api_client, journeys):
        journeys.add([("email", 1, "Spring")], revenue=30, times=2).add([], revenue=12.5, times=3).save()
        body = api_client.get(URL, {"model": "linear"}).json()
        assert body["totals"]["conversions"] == 5 and body["totals"]["revenue"] == 97.5
        campaigns = {c["campaign"]: c for c in body["campaigns"]}
        assert campaigns[None]["channels"] == ["direct"]
        assert (campaigns[None]["attributed_conversions"], campaigns[None]["attributed_revenue"]) == (3, 37.5)
        assert (campaigns["Spring"]["attributed_conversions"], campaigns["Spring"]["attributed_revenue"]) == (2, 60)

    def test_shapley_over_more_than_twelve_channels_is_422(self, api_client, journeys):
        for i in range(13):
            journeys.add([(f"channel_{i:02d}", 1)], revenue=10, times=3)
        journeys.save()
        body = assert_error(api_client.get(URL, {"model": "shapley"}), 422, "VALIDATION_ERROR")
        assert "at most 12 channels" in body["errors"]["model"][0]
        compare = api_client.get(f"{URL}/compare", {"bootstrap": 10}).json()  # compare lists it as skipped
        assert "shapley" in compare["skipped_models"] and "shapley" not in compare["models"]
        assert "data_driven" in compare["models"]

    def test_custom_conversion_events(self, api_client, tenant, journeys):
        profile = journeys.profile()
        Event.objects.unscoped().bulk_create([
            event(tenant, profile, "ad_click", NOW - 2 * DAY, {"channel": "search"}),
            event(tenant, profile, "signup", NOW - DAY)])
        body = api_client.get(URL, {"model": "last_click", "conversion_event": "signup,purchase"}).json()
        assert body["conversion_events"] == ["signup", "purchase"]
        assert body["channels"][0]["channel"] == "search" and body["totals"]["conversions"] == 1

    def test_api_key_scopes(self, user, make_key_client, mixed):
        assert make_key_client(user, scopes=["read:analytics"]).get(URL).status_code == 200
        assert_error(make_key_client(user, scopes=["read:campaigns"]).get(URL), 403, "FORBIDDEN")

    def test_a_fixed_number_of_queries(self, api_client, mixed, django_assert_max_num_queries):
        # The first read folds in the pending marks of the stored journeys (one check, one lock, one claim, one
        # rebuild statement, in a savepoint; PostgreSQL); later reads only check that nothing is pending.
        with django_assert_max_num_queries(12 if connection.vendor == "postgresql" else 7):
            assert api_client.get(URL, {"model": "data_driven"}).status_code == 200
        with django_assert_max_num_queries(7):
            assert api_client.get(URL, {"model": "data_driven"}).status_code == 200


class TestCompare:
    def test_models_side_by_side_with_intervals_and_disagreement(self, api_client, journeys):
        # A always first, B always last: first-click and last-click disagree completely.
        journeys.add([("alpha", 3), ("beta", 1)], revenue=40, times=30).add([("beta", 1)], revenue=40, times=10)
        journeys.add([("alpha", 1)], converted=False, times=10).save()
        response = api_client.get(f"{URL}/compare", {"bootstrap": 30, "seed": 4})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["models"] == ["last_click", "first_click", "linear", "time_decay", "position_based", "data_driven",
                                  "shapley"]
        channels = {c["channel"]: c for c in body["channels"]}
        alpha = channels["alpha"]["models"]
        assert alpha["first_click"]["attributed_conversions"] == 30
        assert alpha["last_click"]["attributed_conversions"] == 0
        for figures in alpha.values():
            assert figures["ci_low"] <= figures["attributed_conversions"] + 1e-6
            assert figures["attributed_conversions"] <= figures["ci_high"] + 1e-6
        flagged = {d["channel"]: d for d in body["disagreements"]}
        assert flagged["alpha"]["flagged"] is True and flagged["alpha"]["spread"] == 0.75
        assert (flagged["alpha"]["highest_model"], flagged["alpha"]["lowest_model"]) == ("first_click", "last_click")
        assert body["bootstrap"] == {"replicates": 30, "confidence": 0.95, "seed": 4}
        again = api_client.get(f"{URL}/compare", {"bootstrap": 30, "seed": 4}).json()
        assert again["channels"] == body["channels"]  # reproducible for a seed

    def test_compare_skips_models_without_enough_data(self, api_client, journeys):
        journeys.add([("email", 1)], revenue=10, times=5).save()
        body = api_client.get(f"{URL}/compare", {"bootstrap": 10}).json()
        assert "data_driven" not in body["models"] and "data_driven" in body["skipped_models"]
        assert body["insufficient_data"] is False and "linear" in body["models"]

    def test_bad_bootstrap_values(self, api_client):
        assert "bootstrap" in assert_error(api_client.get(f"{URL}/compare", {"bootstrap": 5000}), 422)["errors"]
        assert "confidence" in assert_error(api_client.get(f"{URL}/compare", {"confidence": 1.5}), 422)["errors"]
