"""`POST /analytics/what-if`: predictions from the fitted curves, with intervals; gated by what_if_simulator."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.helpers import assert_error

from .conftest import NOW, TODAY, daily_metrics
from .test_insights import wobble

URL = "/api/v1/analytics/what-if"


@pytest.fixture
def curved(tenant):
    """A campaign whose revenue follows 400 · (spend / 100)^0.6 (±2 %), daily budget 120."""
    account = AdAccountFactory(tenant=tenant, last_synced_at=NOW)
    campaign = CampaignFactory(tenant=tenant, ad_account=account, name="Curved", budget_amount=Decimal("120"))
    rows = []
    for d in range(1, 61):
        spend = 100 + 20 * wobble(d)
        rows.append((TODAY - dt.timedelta(days=d), spend, 400 * (spend / 100) ** 0.6 * (1 + 0.02 * wobble(d + 9)),
                     10, 10000, 200))
    daily_metrics(campaign, rows)
    recent = sorted(rows, key=lambda r: r[0])[-14:]
    campaign.recent_spend = sum(r[1] for r in recent) / 14
    return campaign


def test_predicts_from_the_curve_with_intervals(api_client, tenant, curved):
    fresh = CampaignFactory(tenant=tenant, name="New campaign")
    response = api_client.post(URL, {"changes": [{"campaign_id": str(curved.pk), "budget": 132},
                                                 {"campaign_id": str(fresh.pk), "budget": 50}]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    item, missing = body["campaigns"]
    delivery = curved.recent_spend / 120
    assert item["delivery_rate"] == pytest.approx(delivery, abs=0.001)
    assert item["baseline"]["spend"] == pytest.approx(30 * curved.recent_spend, abs=0.05)
    new_spend = 132 * delivery
    assert item["scenario"]["spend"] == pytest.approx(30 * new_spend, abs=0.05)
    truth = 30 * 400 * (new_spend / 100) ** 0.6
    assert item["scenario"]["revenue"] == pytest.approx(truth, rel=0.02)
    assert item["scenario"]["revenue_low"] < item["scenario"]["revenue"] < item["scenario"]["revenue_high"]
    assert item["scenario"]["roas"] == pytest.approx(item["scenario"]["revenue"] / item["scenario"]["spend"], abs=0.01)
    assert item["model"]["b"] == pytest.approx(0.6, abs=0.1) and item["extrapolated"] is False
    assert item["change"]["revenue"] == pytest.approx(item["scenario"]["revenue"] - item["baseline"]["revenue"],
                                                      abs=0.02)
    assert missing["insufficient_data"] is True and missing["scenario"] is None
    assert body["complete"] is False and body["insufficient_data"] is False
    # the campaign without a curve is left out of the total
    assert body["total"]["scenario"]["revenue"] == item["scenario"]["revenue"]
    assert body["horizon_days"] == 30


def test_far_outside_the_data_is_flagged(api_client, curved):
    body = api_client.post(URL, {"changes": [{"campaign_id": str(curved.pk), "budget": 400}], "horizon_days": 7},
                           format="json").json()
    assert body["campaigns"][0]["extrapolated"] is True and body["horizon_days"] == 7


def test_bad_input(api_client, tenant, curved):
    other = CampaignFactory(tenant=TenantFactory())
    lifetime = CampaignFactory(tenant=tenant, budget_type="lifetime")
    cases = [
        ({"changes": [{"campaign_id": str(other.pk), "budget": 10}]}, "changes[0].campaign_id"),
        ({"changes": [{"campaign_id": str(lifetime.pk), "budget": 10}]}, "changes[0].budget"),
        ({"changes": [{"campaign_id": str(curved.pk), "budget": -1}]}, "changes[0].budget"),
        ({"changes": [{"campaign_id": str(curved.pk), "budget": 10}] * 2}, "changes"),
        ({"changes": []}, "changes"),
        ({"changes": [{"campaign_id": str(curved.pk), "budget": 10, "bid": 2}]}, "changes[0].bid"),
        ({"changes": [{"campaign_id": str(curved.pk), "budget": 10}], "horizon_days": 365}, "horizon_days"),
    ]
    for body, field in cases:
        error = assert_error(api_client.post(URL, body, format="json"), 422, "VALIDATION_ERROR")
        assert field in error["errors"], (body, error)


def test_gate_roles_and_scopes(db, tenant, curved, make_client, make_key_client):
    body = {"changes": [{"campaign_id": str(curved.pk), "budget": 100}]}
    viewer = make_client(UserFactory(tenant=tenant, role="viewer"))
    assert viewer.post(URL, body, format="json").status_code == 200  # a simulation changes nothing
    owner = UserFactory(tenant=tenant, role="owner")
    assert make_key_client(owner, scopes=["read:analytics"]).post(URL, body, format="json").status_code == 200
    starter = TenantFactory(plan="starter")
    error = assert_error(make_client(UserFactory(tenant=starter)).post(URL, body, format="json"), 403,
                         "FEATURE_NOT_AVAILABLE")
    assert "what_if_simulator" in error["detail"]
