import datetime

import factory
from django.utils import timezone

from analytics.models import (
    ChurnModelFit,
    ChurnPrediction,
    DigestRun,
    Funnel,
    Report,
    ReportDelivery,
    ReportSchedule,
    ReportTemplate,
)
from tests.cdp.factories import ProfileFactory
from tests.factories import TenantOwnedFactory


class FunnelFactory(TenantOwnedFactory):
    class Meta:
        model = Funnel

    name = factory.Sequence(lambda n: f"Funnel {n}")
    steps = factory.LazyFunction(lambda: [{"name": "Visit", "event_type": "page_view", "where": []},
                                          {"name": "Buy", "event_type": "purchase", "where": []}])
    conversion_window_days = 7


class ChurnModelFitFactory(TenantOwnedFactory):
    class Meta:
        model = ChurnModelFit

    status = "ok"
    r, alpha, a, b = 0.8, 20.0, 0.9, 3.0
    log_likelihood = -1234.5
    customers = 100
    repeat_customers = 40
    computed_at = factory.LazyFunction(timezone.now)


class ChurnPredictionFactory(TenantOwnedFactory):
    class Meta:
        model = ChurnPrediction

    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    probability_alive = 0.25
    churn_probability = 0.75
    expected_purchases = 0.12
    risk = "high"
    repeat_purchases = 2
    recency_days = 30.0
    age_days = 200.0
    computed_at = factory.LazyFunction(timezone.now)


class ReportTemplateFactory(TenantOwnedFactory):
    class Meta:
        model = ReportTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    kind = "performance_summary"
    sections = factory.LazyFunction(lambda: ["kpis", "top_campaigns"])
    metrics = factory.LazyFunction(lambda: ["spend", "revenue", "roas"])


class ReportFactory(TenantOwnedFactory):
    class Meta:
        model = Report

    name = factory.Sequence(lambda n: f"Report {n}")
    template_key = "performance_summary"
    kind = "performance_summary"
    format = "pdf"
    start_date = datetime.date(2026, 1, 1)
    end_date = datetime.date(2026, 1, 31)
    status = "pending"
    options = factory.LazyFunction(lambda: {"include_charts": True})


class ReportScheduleFactory(TenantOwnedFactory):
    class Meta:
        model = ReportSchedule

    report = factory.SubFactory(ReportFactory, tenant=factory.SelfAttribute("..tenant"))
    frequency = "weekly"
    day_of_week = "monday"
    time = datetime.time(9, 0)
    timezone = "UTC"
    recipients = factory.LazyFunction(lambda: ["team@agency.example"])


class ReportDeliveryFactory(TenantOwnedFactory):
    class Meta:
        model = ReportDelivery

    schedule = factory.SubFactory(ReportScheduleFactory, tenant=factory.SelfAttribute("..tenant"))
    slot = factory.LazyFunction(timezone.now)
    status = "held"
    reasons = factory.LazyFunction(lambda: ["Signal health is unhealthy (score 20/100)."])


class DigestRunFactory(TenantOwnedFactory):
    class Meta:
        model = DigestRun

    week_start = factory.Sequence(lambda n: timezone.now().date() - timezone.timedelta(days=7 * (n + 1)))
    recipients = 1
