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
