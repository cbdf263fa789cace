"""Funnels: CRUD with validated steps, and the funnel report computed in SQL."""
from __future__ import annotations

import datetime as dt

import pytest

from analytics.models import Funnel
from cdp.models import Event, Profile
from tests.accounts.factories import UserFactory
from tests.helpers import assert_error

from .conftest import NOW, event
from .factories import FunnelFactory

URL = "/api/v1/analytics/funnels"
REPORT = "/api/v1/analytics/funnel"
H = dt.timedelta(hours=1)
STEPS = [{"name": "Ad click", "event_type": "ad_click",
          "where": [{"field": "properties.utm_source", "operator": "in", "value": ["meta", "google"]}]},
         {"event_type": "page_view"}, {"name": "Purchase", "event_type": "purchase"}]


@pytest.fixture
def tracked(tenant, scoped):
    """People moving through ad_click → page_view → purchase (times relative to two days ago)."""
    start = NOW - dt.timedelta(days=2)

    def person(*steps):
        profile = Profile.objects.create(tenant=tenant, email=f"f{Profile.objects.count()}@x.example")
        return [event(tenant, profile, kind, start + offset, props) for kind, offset, props in steps]

    meta, google, tiktok = {"utm_source": "meta"}, {"utm_source": "google"}, {"utm_source": "tiktok"}
    rows = []
    rows += person(("ad_click", 0 * H, meta), ("page_view", 1 * H, {}), ("purchase", 3 * H, {}))      # full, 1h + 2h
    rows += person(("ad_click", 0 * H, meta), ("page_view", 3 * H, {}), ("purchase", 4 * H, {}))      # full, 3h + 1h
    rows += person(("ad_click", 0 * H, google), ("page_view", 2 * H, {}))                            # stops at 2
    rows += person(("ad_click", 0 * H, google), ("purchase", 1 * H, {}), ("page_view", 2 * H, {}))    # order: 2 only
    rows += person(("ad_click", 0 * H, meta), ("page_view", 200 * H, {}))                            # outside 7 days
    rows += person(("ad_click", 0 * H, meta), ("page_view", 30 * H, {}), ("purchase", 31 * H, {}))    # > 1 day
    rows += person(("ad_click", 0 * H, tiktok), ("page_view", 1 * H, {}), ("purchase", 2 * H, {}))    # filtered out
    rows += person(("page_view", 0 * H, {}), ("purchase", 1 * H, {}))                                # never entered
    rows += person(("ad_click", -100 * 24 * H, meta), ("page_view", 1 * H, {}))  # entered before the period
    Event.objects.bulk_create(rows)


class TestCrud:
    def test_create_list_update_delete(self, api_client, tracked):
        response = api_client.post(URL, {"name": "Paid to purchase", "steps": STEPS, "conversion_window_days": 7},
                                   format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["steps"][1] == {"name": "page_view", "event_type": "page_view", "where": []}
        assert body["conversion_window_days"] == 7
        listed = api_client.get(URL).json()
        assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]
        changed = api_client.patch(f"{URL}/{body['id']}", {"conversion_window_days": 1, "name": "Fast buyers"},
                                   format="json").json()
        assert (changed["conversion_window_days"], changed["name"]) == (1, "Fast buyers")
        assert api_client.delete(f"{URL}/{body['id']}").status_code == 204
        assert not Funnel.objects.unscoped().filter(pk=body["id"]).exists()

    @pytest.mark.parametrize("change, field", [
        ({"steps": [{"event_type": "ad_click"}]}, "steps"),
        ({"steps": "ad_click"}, "steps"),
        ({"steps": [{"event_type": "ad_click"}, {"event_type": "never_tracked"}]}, "steps[1].event_type"),
        ({"steps": [{"event_type": "ad_click", "where": [{"field": "properties.x", "operator": "bigger", "value": 1}]},
                    {"event_type": "purchase"}]}, "steps[0].where[0].operator"),
        ({"steps": [{"event_type": "ad_click", "colour": "red"}, {"event_type": "purchase"}]}, "steps[0].colour"),
        ({"steps": [{"event_type": "<b>"}, {"event_type": "purchase"}]}, "steps[0].event_type"),
        ({"conversion_window_days": 0}, "conversion_window_days"),
        ({"conversion_window_days": 91}, "conversion_window_days"),
        ({"owner": "someone"}, "owner"),
    ])
    def test_bad_definitions_are_422_and_write_nothing(self, api_client, tracked, change, field):
        body = {"name": "F", "steps": STEPS, **change}
        error = assert_error(api_client.post(URL, body, format="json"), 422, "VALIDATION_ERROR")
        assert field in error["errors"], error
        assert not Funnel.objects.unscoped().exists()

    def test_duplicate_name_and_roles(self, api_client, tenant, tracked, make_client):
        assert api_client.post(URL, {"name": "F", "steps": STEPS}, format="json").status_code == 201
        assert "name" in assert_error(api_client.post(URL, {"name": "F", "steps": STEPS}, format="json"), 422)["errors"]
        analyst = make_client(UserFactory(tenant=tenant, role="analyst"))
        assert analyst.post(URL, {"name": "G", "steps": STEPS}, format="json").status_code == 201
        viewer = make_client(UserFactory(tenant=tenant, role="viewer"))
        assert_error(viewer.post(URL, {"name": "H", "steps": STEPS}, format="json"), 403, "FORBIDDEN")
        assert viewer.get(URL).status_code == 200


class TestReport:
    def test_counts_conversions_and_median_times(self, api_client, tenant, tracked):
        funnel = FunnelFactory(tenant=tenant, steps=[{"name": s.get("name", s["event_type"]), "where": [], **s}
                                                     for s in STEPS], conversion_window_days=7)
        response = api_client.get(REPORT, {"funnel_id": str(funnel.pk)})
        assert response.status_code == 200, response.content
        body = response.json()
        steps = body["steps"]
        assert [s["count"] for s in steps] == [6, 5, 3]
        assert steps[1]["conversion_from_previous"] == 0.8333 and steps[2]["conversion_from_first"] == 0.5
        assert steps[2]["drop_off"] == 2 and steps[0]["median_seconds_from_previous"] is None
        assert steps[1]["median_seconds_from_previous"] == 7200.0  # 1h, 2h, 2h, 3h, 30h
        assert steps[2]["median_seconds_from_previous"] == 3600.0  # 2h, 1h, 1h
        assert body["overall_conversion"] == 0.5 and body["insufficient_data"] is False

    def test_window_and_breakdown(self, api_client, tenant, tracked):
        funnel = FunnelFactory(tenant=tenant, steps=[{"name": s.get("name", s["event_type"]), "where": [], **s}
                                                     for s in STEPS], conversion_window_days=1)
        body = api_client.get(REPORT, {"funnel_id": str(funnel.pk), "breakdown": "properties.utm_source"}).json()
        assert [s["count"] for s in body["steps"]] == [6, 4, 2]  # the 30-hour visit is now too late
        groups = {g["value"]: [s["count"] for s in g["steps"]] for g in body["breakdown"]["groups"]}
        assert groups == {"meta": [4, 2, 2], "google": [2, 2, 0]}  # tiktok clicks are filtered out by step 1
        assert body["breakdown"]["truncated"] is False

    def test_no_entrants_is_flagged(self, api_client, tenant, tracked):
        funnel = FunnelFactory(tenant=tenant)
        body = api_client.get(REPORT, {"funnel_id": str(funnel.pk), "start_date": "2025-01-01",
                                       "end_date": "2025-01-31"}).json()
        assert body["insufficient_data"] is True and [s["count"] for s in body["steps"]] == [0, 0]
        assert body["steps"][1]["conversion_from_previous"] is None

    def test_errors(self, api_client, tenant):
        assert_error(api_client.get(REPORT), 422)
        assert_error(api_client.get(REPORT, {"funnel_id": "x"}), 422)
        other = FunnelFactory()  # another tenant's funnel is a plain 404
        body = assert_error(api_client.get(REPORT, {"funnel_id": str(other.pk)}), 404, "NOT_FOUND")
        assert str(other.pk) not in body["detail"]
        mine = FunnelFactory(tenant=tenant)
        assert "breakdown" in assert_error(api_client.get(REPORT, {"funnel_id": str(mine.pk),
                                                                  "breakdown": "traits.x"}), 422)["errors"]
        assert "period" in assert_error(api_client.get(REPORT, {"funnel_id": str(mine.pk), "period": "999d"}),
                                        422)["errors"]
