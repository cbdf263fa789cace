"""seed_demo's analytics part: funnels, a scheduled report and churn predictions — idempotent."""
from __future__ import annotations

import datetime as dt
import io

from django_celery_beat.models import PeriodicTask

from analytics import demo
from analytics.models import ChurnModelFit, ChurnPrediction, Funnel, Report, ReportSchedule
from cdp.models import Event, Profile

from .conftest import NOW, event


def test_seed_twice_gives_one_set(tenant, scoped, user, django_capture_on_commit_callbacks):
    rows = []
    for i in range(60):
        profile = Profile.objects.create(tenant=tenant, email=f"d{i}@shop.example")
        start = NOW - dt.timedelta(days=20 + i)
        rows += [event(tenant, profile, "ad_click", start, {"utm_source": "meta", "channel": "paid_social"}),
                 event(tenant, profile, "email_click", start, {"channel": "email"}),
                 event(tenant, profile, "page_view", start + dt.timedelta(hours=1), {"path": "/pricing"}),
                 event(tenant, profile, "purchase", start + dt.timedelta(hours=2), revenue=50)]
        if i % 2:
            rows.append(event(tenant, profile, "purchase", start + dt.timedelta(days=9), revenue=30))
    Event.objects.bulk_create(rows)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        demo.seed(tenant=tenant, stdout=out)
    demo.seed(tenant=tenant, stdout=out)
    assert sorted(Funnel.objects.values_list("name", flat=True)) == [
        "Newsletter to purchase", "Paid click to purchase", "Pricing page to purchase"]
    report = Report.objects.get(schedule__isnull=True)
    assert report.status == "ready" and report.page_count >= 1
    assert sorted(ReportSchedule.objects.values_list("frequency", flat=True)) == ["monthly", "weekly"]
    assert ReportSchedule.objects.filter(recipients=[user.email]).count() == 2
    assert PeriodicTask.objects.filter(name__startswith="analytics.report_schedule.").count() == 2
    assert ChurnModelFit.objects.get().status == "ok" and ChurnPrediction.objects.count() == 60
    assert "churn model: ok, 60 customers" in out.getvalue()


DEMO_PROFILES = 800  # the real seed makes 10,000: the same code, fewer rows


def test_every_analytics_capability_on_the_seeded_demo_tenant(tenant, user, api_client, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    """seed_demo's campaigns, CDP and analytics parts, then each capability through the API as a client would."""
    import campaigns.demo
    import cdp.demo
    from campaigns.models import Campaign
    from stratum.api.tenancy import tenant_scope

    monkeypatch.setattr(cdp.demo, "PROFILES", DEMO_PROFILES)
    out = io.StringIO()
    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        campaigns.demo.seed(tenant=tenant, stdout=out)
        cdp.demo.seed(tenant=tenant, stdout=out)
        demo.seed(tenant=tenant, stdout=out)
    base = "/api/v1/analytics"

    for model in ("last_click", "first_click", "linear", "time_decay", "position_based", "data_driven", "shapley"):
        body = api_client.get(f"{base}/attribution", {"model": model}).json()
        assert body["insufficient_data"] is False, (model, body.get("message"))
        conversions = body["totals"]["conversions"]
        assert conversions >= 30 and len(body["channels"]) >= 3, model
        assert round(sum(c["attributed_conversions"] for c in body["channels"]), 2) == conversions, model
        assert round(sum(c["attributed_conversions"] for c in body["campaigns"]), 2) == conversions, model
        assert any(c["campaign_id"] for c in body["campaigns"]), model  # touchpoints name the demo campaigns
    compare = api_client.get(f"{base}/attribution/compare", {"bootstrap": 10}).json()
    assert len(compare["models"]) == 7 and compare["disagreements"]

    funnels = api_client.get(f"{base}/funnels").json()["items"]
    assert len(funnels) == 3
    for funnel in funnels:
        report = api_client.get(f"{base}/funnel", {"funnel_id": funnel["id"], "period": "90d"}).json()
        assert report["insufficient_data"] is False and report["steps"][0]["count"] > 0, funnel["name"]
        counts = [s["count"] for s in report["steps"]]
        assert counts == sorted(counts, reverse=True), funnel["name"]

    insights = api_client.get(f"{base}/ai/insights").json()
    assert insights["insufficient_data"] is False
    for insight in insights["insights"]:
        assert {"type", "severity", "title", "description", "potential_impact", "confidence"} <= set(insight)

    with tenant_scope(tenant):
        daily = Campaign.objects.filter(status="active", budget_type="daily").order_by("name")
        changes = [{"campaign_id": str(c.pk), "budget": round(float(c.budget_amount) * 1.1, 2)} for c in daily[:3]]
    assert changes
    what_if = api_client.post(f"{base}/what-if", {"changes": changes}, format="json").json()
    assert what_if["insufficient_data"] is False
    priced = [c for c in what_if["campaigns"] if not c["insufficient_data"]]
    assert priced and all(c["scenario"]["revenue_low"] <= c["scenario"]["revenue"] <= c["scenario"]["revenue_high"]
                          for c in priced)

    churn = api_client.get(f"{base}/churn").json()
    assert churn["status"] == "ok" and sum(churn["by_risk"].values()) == churn["customers"] > 50

    reports = api_client.get("/api/v1/reporting/reports").json()["items"]
    [weekly] = [r for r in reports if r["name"] == demo.REPORT_NAME]
    assert weekly["status"] == "ready" and weekly["page_count"] >= 1
    schedules = api_client.get("/api/v1/reporting/schedules").json()["items"]
    assert sorted(s["frequency"] for s in schedules) == ["monthly", "weekly"]
