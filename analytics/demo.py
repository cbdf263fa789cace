"""seed_demo (runs last): funnels over the CDP demo events, a weekly performance report with two schedules, and
churn predictions for the demo customers. Idempotent: existing funnels, reports and schedules are kept; churn is
refitted (the same data gives the same predictions)."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone

from cdp.models import Event
from stratum.api.exceptions import ValidationFailed
from stratum.api.params import local_today

from .churn.services import churn_refresh
from .digest import tenant_zone, weekly_digest_send
from .funnels import funnel_create
from .models import Funnel, Report, ReportSchedule
from .reporting.schedules import schedule_create
from .reporting.services import report_create

FUNNELS = (
    ("Paid click to purchase", "Meta and Google ad clicks that lead to a page view and a purchase within a week.", 7, [
        {"name": "Ad click", "event_type": "ad_click",
         "where": [{"field": "properties.utm_source", "operator": "in", "value": ["meta", "google"]}]},
        {"name": "Visit", "event_type": "page_view"},
        {"name": "Purchase", "event_type": "purchase"}]),
    ("Newsletter to purchase", "Newsletter clicks that convert within two weeks.", 14, [
        {"name": "E-mail click", "event_type": "email_click"},
        {"name": "Purchase", "event_type": "purchase"}]),
    ("Pricing page to purchase", "Visitors of the pricing page who buy within 30 days.", 30, [
        {"name": "Pricing page", "event_type": "page_view",
         "where": [{"field": "properties.path", "operator": "equals", "value": "/pricing"}]},
        {"name": "Purchase", "event_type": "purchase"}]),
)
REPORT_NAME = "Weekly performance (demo)"


def seed(*, tenant, stdout) -> None:
    known = set(Event.objects.values_list("event_type", flat=True).distinct())
    created = 0
    for name, description, window, steps in FUNNELS:
        if Funnel.objects.filter(name=name).exists() or not {s["event_type"] for s in steps} <= known:
            continue
        try:
            funnel_create(tenant=tenant, name=name, description=description, steps=steps,
                          conversion_window_days=window)
            created += 1
        except ValidationFailed as exc:
            stdout.write(f"  funnel {name!r} skipped: {exc.detail}")
    stdout.write(f"  {created} funnels added ({Funnel.objects.count()} in total)")
    # Last week's digest, computed from the seeded campaign data (once per week: idempotent).
    today = timezone.now().astimezone(tenant_zone(tenant)).date()
    last_monday = today - dt.timedelta(days=today.weekday() + 7)
    run = weekly_digest_send(tenant=tenant, week_start=last_monday)
    stdout.write(f"  weekly digest for the week of {last_monday}: {'sent' if run else 'already sent'}")

    report = Report.objects.filter(name=REPORT_NAME, schedule__isnull=True).order_by("created_at").first()
    if report is None:
        today = local_today(tenant.timezone)
        report = report_create(tenant=tenant, template_id="performance_summary", name=REPORT_NAME,
                               start=today - dt.timedelta(days=7), end=today - dt.timedelta(days=1), fmt="pdf")
        stdout.write("  weekly performance report requested (renders after the seed's transaction)")
    if not ReportSchedule.objects.filter(report=report).exists():
        owner = tenant.users.filter(role="owner").order_by("created_at").first()
        recipients = [owner.email] if owner else ["reports@demo.stratum.local"]
        schedule_create(tenant=tenant, report=report, created_by=owner, data={
            "frequency": "weekly", "day_of_week": "monday", "time": "09:00", "recipients": recipients})
        schedule_create(tenant=tenant, report=report, created_by=owner, data={
            "frequency": "monthly", "day_of_month": 1, "time": "08:00", "recipients": recipients})
        stdout.write(f"  report schedules: weekly (Monday 09:00) and monthly (1st, 08:00) in {tenant.timezone}")

    fit = churn_refresh(tenant=tenant)
    stdout.write(f"  churn model: {fit.status}, {fit.customers} customers"
                 + (f" (r={fit.r:.3f}, alpha={fit.alpha:.2f}, a={fit.a:.3f}, b={fit.b:.3f})" if fit.status == "ok" else
                    f" — {fit.message}"))
