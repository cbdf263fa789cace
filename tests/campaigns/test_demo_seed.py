"""seed_demo without --email: the demo tenant, its three demo accounts with 90 days synced through the sync
service, and figures that agree with each other across the dashboard, analytics, campaigns, pacing and
recommendations."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max, Min

from accounts.models import Tenant, User
from campaigns.models import AdAccount, AdAccountSyncRun, CampaignDailyMetric
from stratum.api.tenancy import tenant_scope
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(frozen):
    call_command("seed_demo", only="campaigns", stdout=io.StringIO())
    tenant = Tenant.objects.get(slug="demo")
    return tenant, client_for(User.objects.get(email="demo@stratum.local"))


def test_demo_tenant_accounts_and_history(demo):
    tenant, _ = demo
    with tenant_scope(tenant):
        accounts = list(AdAccount.objects.order_by("external_id"))
        assert [(a.platform, a.name) for a in accounts] == [
            ("demo", "Northwind Apparel"), ("demo", "Bluebird Software"), ("demo", "Cedar Home")]
        assert {run.trigger for run in AdAccountSyncRun.objects.all()} == {"seed"}
        assert all(a.last_synced_at == dt.datetime(2026, 3, 18, 15, tzinfo=dt.UTC) for a in accounts)
        for account in accounts:
            span = CampaignDailyMetric.objects.filter(campaign__ad_account=account).aggregate(
                first=Min("date"), last=Max("date"))
            assert span["first"] == dt.date(2026, 3, 18) - dt.timedelta(days=89), account.name
        # Cedar Home reports two days late; the others have today's partial day.
        lasts = {a.name: CampaignDailyMetric.objects.filter(campaign__ad_account=a).aggregate(d=Max("date"))["d"]
                 for a in accounts}
        assert lasts == {"Northwind Apparel": dt.date(2026, 3, 18), "Bluebird Software": dt.date(2026, 3, 18),
                         "Cedar Home": dt.date(2026, 3, 16)}
    with pytest.raises(CommandError):
        call_command("seed_demo", email="nobody@example.com", only="campaigns", stdout=io.StringIO())


def test_demo_figures_agree_across_endpoints(demo):
    _, client = demo
    overview = client.get("/api/v1/dashboard/overview?period=30d").json()
    performance = client.get("/api/v1/dashboard/performance?period=30d").json()
    listed = client.get("/api/v1/campaigns?period=30d&limit=100").json()["items"]
    analytics = client.get("/api/v1/analytics/campaigns?period=30d&limit=100").json()
    assert overview["total_spend"] == performance["totals"]["spend"] == analytics["totals"]["spend"]
    assert overview["roas"] == performance["totals"]["roas"] == analytics["totals"]["roas"]
    assert round(sum(p["spend"] for p in performance["series"]), 2) == overview["total_spend"]
    assert round(sum(i["spend"] for i in listed), 2) == overview["total_spend"]
    assert round(sum(p["spend"] for p in overview["platforms"].values()), 2) == overview["total_spend"]
    by_id = {i["campaign_id"]: i for i in analytics["items"]}
    for item in listed:
        assert (item["spend"], item["roas"]) == (by_id[item["id"]]["spend"], by_id[item["id"]]["roas"])
    # A pacing alert's actual spend is the campaign's spend of the day (or month, or flight) it is paced over.
    alerts = client.get("/api/v1/pacing/alerts").json()["alerts"]
    assert alerts
    for alert in alerts:
        window = alert["window"]
        series = client.get(f"/api/v1/campaigns/{alert['campaign_id']}/performance?start_date={window['start_date']}"
                            f"&end_date={alert['as_of'][:10]}").json()
        assert series["totals"]["spend"] == alert["actual_spend"], alert["campaign_name"]
    # A recommendation's figures are the campaign's last 30 days.
    for item in listed[:6]:
        recs = client.get(f"/api/v1/campaigns/{item['id']}/recommendations").json()
        assert recs["metrics"] == client.get(f"/api/v1/campaigns/{item['id']}/performance?period=30d").json()["totals"]
